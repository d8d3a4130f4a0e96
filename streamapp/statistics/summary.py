"""Mergeable monitoring summaries: what the data plane emits and the control plane merges.

:class:`Stats` holds only counts, integer histograms and fixed-point sums, so
merging is exact, commutative and associative: one worker or N workers, and
any batching, give bit-identical global numbers. A :class:`Summary` carries
the stats of one (model, version, variant, join partition) for one checkpoint,
split by holdout flag and event-time bucket, with the checkpoint's sequence
number so the control plane applies each checkpoint exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

SCALE = 2**40
"""Fixed-point scale of the float sums (one unit = 2^-40)."""


def fixed(values: list[float]) -> int:
    """Exact integer sum of values rounded to the fixed-point grid (order-independent).

    >>> fixed([0.5, 0.25]) / SCALE
    0.75
    """
    return sum(round(v * SCALE) for v in values)


def _add_lists(a: list[int], b: list[int]) -> list[int]:
    if not a:
        return list(b)
    if not b:
        return list(a)
    return [x + y for x, y in zip(a, b, strict=True)]


def _add_signed(a: list[int], b: list[int], sign: int) -> list[int]:
    if not a:
        return [sign * y for y in b]
    if not b:
        return a
    return [x + sign * y for x, y in zip(a, b, strict=True)]


def _nonzero(a: list[int]) -> list[int]:
    """``a``, or ``[]`` when every entry is zero (as if never added)."""
    return a if any(a) else []


def _add_maps(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


@dataclass
class Stats:
    """Mergeable facts about a set of logged predictions and joined outcomes."""

    logged: int = 0
    """Logged predictions seen for the first time."""
    joined: int = 0
    expired: int = 0
    invalid_labels: int = 0
    """Joined outcomes whose label or prediction is not a known class (not in the sums)."""
    confusion: list[int] = field(default_factory=list)
    """Classification: row-major n x n counts, actual x predicted (class indexes)."""
    score_pos: dict[str, int] = field(default_factory=dict)
    """Binary: score-bin → count of outcomes with actual class 1 (see ``SCORE_BINS``)."""
    score_neg: dict[str, int] = field(default_factory=dict)
    log_loss: int = 0
    """Binary: fixed-point sum of per-outcome log loss (outcomes with scores)."""
    scored: int = 0
    """Binary: outcomes that carried scores."""
    sums: dict[str, int] = field(default_factory=dict)
    """Regression: fixed-point sums abs, sq, y, y2, sle and count sle_invalid."""
    hist: dict[str, list[int]] = field(default_factory=dict)
    """Logged predictions per reference-profile bin, per feature and ``prediction``."""
    quality: dict[str, int] = field(default_factory=dict)
    """``feature/problem`` → count (missing, out_of_range, invalid)."""

    def merge(self, other: Stats) -> Stats:
        """The stats of both sets (a new object)."""
        hist = dict(self.hist)
        for k, v in other.hist.items():
            hist[k] = _add_lists(hist.get(k, []), v)
        return Stats(
            logged=self.logged + other.logged,
            joined=self.joined + other.joined,
            expired=self.expired + other.expired,
            invalid_labels=self.invalid_labels + other.invalid_labels,
            confusion=_add_lists(self.confusion, other.confusion),
            score_pos=_add_maps(self.score_pos, other.score_pos),
            score_neg=_add_maps(self.score_neg, other.score_neg),
            log_loss=self.log_loss + other.log_loss,
            scored=self.scored + other.scored,
            sums=_add_maps(self.sums, other.sums),
            hist=hist,
            quality=_add_maps(self.quality, other.quality),
        )

    def add(self, other: Stats, sign: int = 1) -> None:
        """Add (``sign`` 1) or subtract (-1) ``other`` in place; exact (integers only).

        Map entries and histograms that drop to zero are removed, so adding and then
        subtracting a part leaves the same object :meth:`merge` would have built.
        """
        for name in ("logged", "joined", "expired", "invalid_labels", "log_loss", "scored"):
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))
        self.confusion = _nonzero(_add_signed(self.confusion, other.confusion, sign))
        for name in ("score_pos", "score_neg", "sums", "quality"):
            mine: dict[str, int] = getattr(self, name)
            for k, v in getattr(other, name).items():
                total = mine.get(k, 0) + sign * v
                if total:
                    mine[k] = total
                else:
                    mine.pop(k, None)
        for k, v in other.hist.items():
            hist = _nonzero(_add_signed(self.hist.get(k, []), v, sign))
            if hist:
                self.hist[k] = hist
            else:
                self.hist.pop(k, None)

    def copy(self) -> Stats:
        """An independent copy."""
        out = Stats(**self.__dict__)  # scalars shared, containers copied below
        out.confusion = list(self.confusion)
        out.score_pos, out.score_neg = dict(self.score_pos), dict(self.score_neg)
        out.sums, out.quality = dict(self.sums), dict(self.quality)
        out.hist = {k: list(v) for k, v in self.hist.items()}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        return cls(**data)


@dataclass
class Summary:
    """One checkpoint's stats of one (model, version, variant, join partition)."""

    model: str
    version: str
    variant: str
    partition: int
    seq: int
    """Checkpoint sequence number of the join partition (strictly increasing)."""
    groups: dict[tuple[bool, int], Stats] = field(default_factory=dict)
    """(holdout, event-time bucket index) → stats."""
    versus: dict[str, int] = field(default_factory=dict)
    """A candidate's comparison counts against the primary, ``<primary version>/<count>``
    (canary and shadow summaries; see :mod:`streamapp.monitoring.dataplane.comparison`)."""

    @property
    def key(self) -> bytes:
        """Kafka key: all summaries of a model version meet in one summaries partition."""
        return f"{self.model}/{self.version}".encode()

    def to_json(self) -> bytes:
        out: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "variant": self.variant,
            "partition": self.partition,
            "seq": self.seq,
            "groups": [[h, b, s.to_dict()] for (h, b), s in sorted(self.groups.items())],
        }
        if self.versus:
            out["versus"] = self.versus
        return orjson.dumps(out)

    @classmethod
    def from_json(cls, raw: bytes) -> Summary:
        """Parse a summary; raises ValueError (or TypeError / KeyError) on a malformed one."""
        d = orjson.loads(raw)
        return cls(
            model=str(d["model"]),
            version=str(d["version"]),
            variant=str(d["variant"]),
            partition=int(d["partition"]),
            seq=int(d["seq"]),
            groups={(bool(h), int(b)): Stats.from_dict(s) for h, b, s in d["groups"]},
            versus={str(k): int(v) for k, v in (d.get("versus") or {}).items()},
        )
