"""Fold joined outcomes and logged predictions into :class:`Summary` objects, vectorised.

Runs on the data plane once per checkpoint and join partition. Records are
grouped by (model, version, variant, holdout, event-time bucket); each group is
reduced with numpy to counts, a confusion matrix, score histograms, fixed-point
error sums and histograms on the reference profile's bins
(:class:`~streamapp.statistics.spec.ModelSpec`). A model version missing from
the registry is still counted (logged, joined, expired), without histograms.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from streamapp.monitoring.dataplane.comparison import Pair, versus
from streamapp.monitoring.dataplane.records import LabelRecord, Logged, LoggedRecord
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.statistics.spec import SCORE_BINS, ModelSpec
from streamapp.statistics.summary import Stats, Summary, fixed

GroupKey = tuple[str, str, str, bool, int]
_EPS = float(np.finfo(np.float64).eps)


class Folder:
    """Builds the summaries of one checkpoint of one join partition."""

    def __init__(self, specs: SpecCache, bucket_s: float) -> None:
        self.specs = specs
        self.bucket_s = bucket_s

    def _key(self, p: Logged) -> GroupKey:
        bucket = int(p.event_time.timestamp() // self.bucket_s)
        return (p.model_name, p.model_version, p.variant, p.holdout, bucket)

    def fold(
        self,
        partition: int,
        seq: int,
        logged: Iterable[LoggedRecord],
        joined: Iterable[tuple[Logged, LabelRecord]],
        expired: Iterable[Logged],
        pairs: Iterable[Pair] = (),
    ) -> list[Summary]:
        """Summaries of everything since the last checkpoint (empty when nothing happened).

        A candidate's summary carries its comparison counts against the primary
        (``versus``): from ``pairs`` (shadow) and the matched buckets of ``joined`` (canary).
        """
        outcomes = list(joined)
        stats: dict[GroupKey, Stats] = defaultdict(Stats)
        by_logged: dict[GroupKey, list[LoggedRecord]] = defaultdict(list)
        by_joined: dict[GroupKey, list[tuple[Logged, LabelRecord]]] = defaultdict(list)
        for p in logged:
            by_logged[self._key(p)].append(p)
        for pair in outcomes:
            by_joined[self._key(pair[0])].append(pair)
        for gone in expired:
            stats[self._key(gone)].expired += 1
        for key, preds in by_logged.items():
            s = stats[key]
            s.logged = len(preds)
            spec = self.specs.get(key[0], key[1])
            if spec is not None:
                s.hist, s.quality = spec.histograms(preds)
        for key, group in by_joined.items():
            spec = self.specs.get(key[0], key[1])
            s = stats[key]
            s.joined = len(group)
            if spec is not None:
                _fold_outcomes(spec, group, s)
        out: dict[tuple[str, str, str], Summary] = {}
        for (model, version, variant, holdout, bucket), s in sorted(stats.items()):
            summary = out.get((model, version, variant))
            if summary is None:
                summary = out[(model, version, variant)] = Summary(
                    model, version, variant, partition, seq
                )
            summary.groups[(holdout, bucket)] = s
        for (model, version, variant), counts in versus(
            self.specs, self.bucket_s, pairs, outcomes
        ).items():
            summary = out.get((model, version, variant))
            if summary is None:
                summary = out[(model, version, variant)] = Summary(
                    model, version, variant, partition, seq
                )
            summary.versus = counts
        return list(out.values())


def _fold_outcomes(
    spec: ModelSpec, pairs: list[tuple[Logged, LabelRecord]], s: Stats
) -> None:
    if spec.classes is None:
        _fold_regression(pairs, s)
        return
    n = len(spec.classes)
    y = np.array([spec.class_index(lab.label) for _, lab in pairs], dtype=np.int64)
    p = np.array([spec.class_index(pred.predicted_label) for pred, _ in pairs], dtype=np.int64)
    ok = (y >= 0) & (p >= 0)
    s.invalid_labels = int((~ok).sum())
    s.confusion = np.bincount(y[ok] * n + p[ok], minlength=n * n).tolist()
    if n != 2:
        return
    scored = [
        (float(pred.scores[1]), int(yi))
        for (pred, _), yi, good in zip(pairs, y.tolist(), ok.tolist(), strict=True)
        if good and pred.scores is not None and len(pred.scores) == 2
    ]
    if not scored:
        return
    score = np.array([v for v, _ in scored], dtype=np.float64)
    truth = np.array([t for _, t in scored], dtype=np.int64)
    bins = np.clip((score * SCORE_BINS).astype(np.int64), 0, SCORE_BINS - 1)
    for target, cls in ((s.score_pos, 1), (s.score_neg, 0)):
        idx, counts = np.unique(bins[truth == cls], return_counts=True)
        target.update({str(i): int(c) for i, c in zip(idx.tolist(), counts.tolist(), strict=True)})
    clipped = np.clip(score, _EPS, 1 - _EPS)
    losses = -(truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped))
    s.log_loss = fixed(losses.tolist())
    s.scored = len(scored)


def _fold_regression(pairs: list[tuple[Logged, LabelRecord]], s: Stats) -> None:
    rows = [
        (float(lab.label), float(pred.predicted_value))
        for pred, lab in pairs
        if pred.predicted_value is not None
        and isinstance(lab.label, int | float)
        and not isinstance(lab.label, bool)
        and math.isfinite(float(lab.label))
    ]
    s.invalid_labels = len(pairs) - len(rows)
    if not rows:
        return
    y = np.array([r[0] for r in rows], dtype=np.float64)
    p = np.array([r[1] for r in rows], dtype=np.float64)
    err = y - p
    valid = (y > -1) & (p > -1)
    sle = (np.log1p(y[valid]) - np.log1p(p[valid])) ** 2
    s.sums = {
        "n": len(rows),
        "abs": fixed(np.abs(err).tolist()),
        "sq": fixed((err**2).tolist()),
        "y": fixed(y.tolist()),
        "y2": fixed((y**2).tolist()),
        "sle": fixed(sle.tolist()),
        "sle_invalid": int((~valid).sum()),
    }
