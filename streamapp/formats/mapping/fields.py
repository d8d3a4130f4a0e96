"""A decoded record → the model's envelope: event id, event time, feature values.

Features are read by name from the record's top-level fields unless
``formats.features`` maps a feature to a dotted path (``customer.address.zip``);
paths walk dicts (Avro, JSON Schema) and Protobuf messages alike. A feature
missing from the record is left out, so the feature encoder names it
(``missing_feature``), exactly as for the JSON envelope.

For a batch, :meth:`FieldMap.columns` checks the columns a reader decoded (one per
path, :meth:`FieldMap.paths`) and hands back :class:`EventColumns`: event ids, event
times (vectorised for epoch milliseconds and RFC 3339 texts) and the raw feature
columns of the rows that pass; every other row goes to :meth:`FieldMap.envelope`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import orjson
from google.protobuf.message import Message

from streamapp.schemas import DeadLetterReason

R = DeadLetterReason
MISSING = object()
Envelope = tuple[str, datetime, dict[str, Any]] | tuple[DeadLetterReason, str]
Column = npt.NDArray[Any] | list[Any]
"""One record path's values at a batch's vouched rows: a numpy array or a list."""
_NUMBERS = frozenset({int, float})
_ENCODE = msgspec.json.Encoder().encode
_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)"
_CANONICAL = re.compile(f"{_TIME}(?:\n{_TIME})*")
"""Newline-joined RFC 3339 times as the JSON envelope keeps them (scoring.decode)."""
MILLIS = (-8_000_000_000_000, 8_000_000_000_000)
"""Epoch milliseconds read by numpy exactly as :func:`event_time` reads them (past ~2^33
seconds, ``fromtimestamp(ms / 1000)`` rounds; such rows go record by record)."""


def lookup(record: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` in ``record``, or the sentinel :data:`MISSING`.

    >>> lookup({"a": {"b": 2}}, ["a", "b"]), lookup({"a": 1}, ["b"]) is MISSING
    (2, True)
    """
    node = record
    for part in path:
        if isinstance(node, Mapping):
            node = node.get(part, MISSING)
        elif isinstance(node, Message):
            fd = node.DESCRIPTOR.fields_by_name.get(part)
            if fd is None or (fd.has_presence and not node.HasField(part)):
                return MISSING
            node = getattr(node, part)
            if repeated(fd):
                node = list(node)
        else:
            return MISSING
        if node is MISSING or node is None:
            return MISSING
    return node


def repeated(field: Any) -> bool:
    """Whether a Protobuf field is repeated: ``is_repeated`` (protobuf 6), else its label."""
    found = getattr(field, "is_repeated", None)
    return bool(found) if found is not None else field.label == field.LABEL_REPEATED


def event_time(value: Any) -> datetime | None:
    """A record's event time: an aware datetime, RFC 3339 text, or epoch milliseconds.

    >>> event_time(1_700_000_000_000).isoformat(), event_time("2026-01-02T03:04:05Z").year
    ('2023-11-14T22:13:20+00:00', 2026)
    """
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if isinstance(value, str):
        when = datetime.fromisoformat(value)
        return when if when.tzinfo is not None else None
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


class FieldMap:
    """Where a model's envelope and features are read from in a decoded record."""

    def __init__(
        self,
        features: Sequence[str],
        paths: Mapping[str, str],
        event_id_field: str = "event_id",
        event_time_field: str = "event_time",
    ) -> None:
        self.features = [(name, paths.get(name, name).split(".")) for name in features]
        self.event_id = event_id_field.split(".")
        self.event_time = event_time_field.split(".")

    def paths(self) -> list[tuple[str, ...]]:
        """Every record path the envelope reads, once: event id, event time, model, features."""
        found = [tuple(self.event_id), tuple(self.event_time), ("model",),
                 *(tuple(p) for _n, p in self.features)]
        return list(dict.fromkeys(found))

    def columns(
        self, rows: Sequence[int], columns: Sequence[Column | None], records: Sequence[Any],
        model: str,
    ) -> tuple[EventColumns, list[int]]:
        """Columns of :meth:`paths` at the input rows ``rows`` → the envelopes of the rows
        whose every check passes, and the rows to decode one by one (they name a reason)."""
        at = dict(zip(self.paths(), columns, strict=True))
        names = [name for name, _p in self.features]
        feats = [at[tuple(p)] for _n, p in self.features]
        ids = at[tuple(self.event_id)]
        when = at[tuple(self.event_time)]
        if when is None or any(c is None for c in feats) or not rows:
            return EventColumns(names), list(rows)
        if ids is None:
            ids = [_text(records[i].key()) for i in rows]
        if set(map(type, ids)) == {str} and min(map(len, ids)) > 0 and max(map(len, ids)) <= 256:
            good = [True] * len(ids)
        else:
            good = [type(i) is str and 0 < len(i) <= 256 for i in ids]
        served = at[("model",)]
        if served is not None:
            good = [g and m == model for g, m in zip(good, served, strict=True)]
        picked = list(rows) if all(good) else [i for i, g in zip(rows, good, strict=True) if g]
        keep = vouched([ids, when, *feats], good)
        times, texts = _times(keep[1])  # type: ignore[arg-type]
        dts: list[datetime] = times  # type: ignore[assignment]  # unless None is in it
        if None in times:
            ok = [t is not None for t in times]
            keep = vouched(keep, ok)
            picked = [i for i, g in zip(picked, ok, strict=True) if g]
            dts = [t for t in times if t is not None]
        found = EventColumns(names, picked, keep[0], dts,  # type: ignore[arg-type]
                             texts if texts is not None else [t.isoformat() for t in dts],
                             keep[2:])  # type: ignore[arg-type]
        return found, [] if len(picked) == len(rows) else sorted(set(rows).difference(picked))

    def envelope(
        self, record: Any, key: bytes | None, timestamp_ms: int | None, model: str
    ) -> tuple[str, datetime, dict[str, Any]] | tuple[DeadLetterReason, str]:
        """(event id, event time, features) of one record, or (reason, detail)."""
        event_id = lookup(record, self.event_id)
        if event_id is MISSING:
            try:
                event_id = key.decode("utf-8") if key else MISSING
            except UnicodeDecodeError:
                event_id = MISSING
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 256:
            return R.SCHEMA_VIOLATION, "no event id: neither the record field nor the Kafka key"
        raw = lookup(record, self.event_time)
        try:
            when = (event_time(raw) if raw is not MISSING else
                    datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms else None)
        except (ValueError, OverflowError, OSError):
            when = None
        if when is None:
            return R.SCHEMA_VIOLATION, f"event time {str(raw)[:64]!r} is not an aware timestamp"
        served = lookup(record, ["model"])
        if served is not MISSING and served != model:
            return R.UNKNOWN_MODEL, f"model {str(served)[:64]!r} is not served here ({model})"
        features: dict[str, Any] = {}
        for name, path in self.features:
            value = lookup(record, path)
            if value is not MISSING:
                features[name] = value
        return event_id, when, features


@dataclass
class EventColumns:
    """A batch's envelopes as columns: the rows the batch path vouched for, then the rest."""

    names: list[str]
    rows: list[int] = field(default_factory=list)
    """The input position of each vouched row."""
    event_ids: list[str] = field(default_factory=list)
    event_dts: list[datetime] = field(default_factory=list)
    event_times: list[str] = field(default_factory=list)
    """RFC 3339 texts (the record's own when canonical)."""
    features: list[Column] = field(default_factory=list)
    """One column per feature (in ``names`` order) at the vouched rows."""
    others: list[tuple[int, Envelope]] = field(default_factory=list)
    """``(input position, envelope or reject)`` of every other row, decoded one by one."""

    def matrix(self) -> npt.NDArray[np.float64]:
        """The raw feature values as float64, NaN where a value is not a number."""
        n = len(self.rows)
        out = np.empty((n, len(self.names)), np.float64)
        lists = [k for k, c in enumerate(self.features) if not isinstance(c, np.ndarray)]
        for k, column in enumerate(self.features):
            if isinstance(column, np.ndarray):
                out[:, k] = column
        if lists and set(map(type, chain.from_iterable(self.features[k] for k in lists))
                         ) <= _NUMBERS:
            try:
                out[:, lists] = np.array([self.features[k] for k in lists], np.float64).T
                return out
            except OverflowError:  # an integer past float64
                pass
        for k in lists:
            out[:, k] = [float(v) if type(v) in _NUMBERS and abs(v) < 1e308 else np.nan
                         for v in self.features[k]]
        return out

    def row(self, j: int) -> dict[str, Any]:
        """The features of vouched row ``j`` as the record held them (the per-record path)."""
        return {name: (column[j].item() if isinstance(column, np.ndarray) else column[j])
                for name, column in zip(self.names, self.features, strict=True)}

    def texts(self, rows: Sequence[int] | None = None) -> list[bytes]:
        """The JSON object of the features of each vouched row (of ``rows`` only, in their
        order, when given): numbers through one struct per row and ``msgspec`` (C), anything
        else through ``orjson`` as the per-record path."""
        picked = range(len(self.rows)) if rows is None else rows
        if not len(picked):
            return []
        at = self._at(rows)
        numbers = all(c.dtype.kind in "fiu" if isinstance(c, np.ndarray) else
                      set(map(type, c)) <= _NUMBERS for c in at)
        columns = [c.tolist() if isinstance(c, np.ndarray) else c for c in at]
        if self.names and numbers:
            try:
                return list(map(_ENCODE, map(_features_struct(tuple(self.names)), *columns)))
            except (OverflowError, TypeError, msgspec.EncodeError):  # an int past 64 bits
                pass
        return [orjson.dumps(self.row(j), default=str) for j in picked]

    def _at(self, rows: Sequence[int] | None) -> list[Column]:
        """The feature columns at ``rows`` (all of them when None)."""
        if rows is None:
            return self.features
        index = np.asarray(rows, np.intp)
        return [c[index] if isinstance(c, np.ndarray) else [c[j] for j in rows]
                for c in self.features]


@lru_cache(maxsize=64)
def _features_struct(names: tuple[str, ...]) -> type[msgspec.Struct]:
    """A struct whose JSON is the features object ``{name: value, …}`` in ``names`` order."""
    return msgspec.defstruct("FeatureRow", [(f"f{i}", Any) for i in range(len(names))],
                             rename={f"f{i}": name for i, name in enumerate(names)}, gc=False)


def vouched(columns: Sequence[Column | None], ok: npt.NDArray[np.bool_] | list[bool]
            ) -> list[Column | None]:
    """``columns`` at the rows where ``ok`` holds.

    >>> vouched([np.array([1, 2, 3]), ["a", "b", "c"], None], [True, False, True])
    [array([1, 3]), ['a', 'c'], None]
    """
    mask = np.asarray(ok, bool)
    if mask.all():
        return list(columns)
    picked = np.flatnonzero(mask).tolist()
    return [None if c is None else c[mask] if isinstance(c, np.ndarray) else [c[i] for i in picked]
            for c in columns]


def millis_times(millis: npt.NDArray[np.int64]) -> tuple[list[datetime], list[str]]:
    """Epoch milliseconds → aware datetimes and their ``isoformat()`` texts, vectorised.

    >>> millis_times(np.array([1_700_000_000_000, 1_700_000_000_250]))[1]
    ['2023-11-14T22:13:20+00:00', '2023-11-14T22:13:20.250000+00:00']
    """
    stamps = millis.astype("datetime64[ms]").astype("datetime64[us]")
    whole = np.datetime_as_string(stamps, unit="s")
    fine = np.datetime_as_string(stamps, unit="us")
    exact = (stamps - stamps.astype("datetime64[s]")) == np.timedelta64(0, "us")
    texts = [t + "+00:00" for t in np.where(exact, whole, fine).tolist()]
    return list(map(datetime.fromisoformat, texts)), texts


def iso_times(texts: Sequence[str]) -> tuple[list[datetime], list[str]] | None:
    """RFC 3339 texts → aware datetimes and texts to keep; None if one is not such a text."""
    try:
        times = list(map(datetime.fromisoformat, texts))
    except (TypeError, ValueError):
        return None
    if None in map(attrgetter("tzinfo"), times):
        return None
    if not _canonical(texts):
        return times, [t.isoformat() for t in times]
    return times, list(texts)


def _canonical(texts: Sequence[str]) -> bool:
    """Every text is RFC 3339 as the JSON envelope keeps it (``_CANONICAL``): when all are
    ASCII and as long as the first, which matches, one numpy comparison of their layout.

    >>> _canonical(["2026-11-24T05:00:00Z"] * 3), _canonical(["2026-11-24 05:00:00+00:00"])
    (True, False)
    """
    first, joined = texts[0], "".join(texts)
    if joined.isascii() and len(set(map(len, texts))) == 1 and _CANONICAL.fullmatch(
            first):
        layout = np.frombuffer(first.encode(), np.uint8)
        grid = np.frombuffer(joined.encode(), np.uint8).reshape(len(texts), len(first))
        digit = (layout >= 0x30) & (layout <= 0x39)
        if (grid[:, ~digit] == layout[~digit]).all() and ((grid[:, digit] - 0x30) <= 9).all():
            return True
    return _CANONICAL.fullmatch("\n".join(texts)) is not None


def _text(key: bytes | None) -> str | None:
    try:
        return key.decode("utf-8") if key else None
    except UnicodeDecodeError:
        return None


def _times(values: Column) -> tuple[list[datetime | None], list[str] | None]:
    """Each value as :func:`event_time` reads it (None: not a time) and, when cheap, the
    texts of those that are; vectorised for epoch milliseconds and RFC 3339 texts."""
    if (isinstance(values, np.ndarray) and values.dtype.kind == "i") or (
            isinstance(values, list) and set(map(type, values)) == {int}):
        millis = np.asarray(values, np.int64)
        inside = (millis >= MILLIS[0]) & (millis <= MILLIS[1])
        dts, texts = millis_times(millis[inside])
        if len(dts) == len(millis):
            return list(dts), texts
        found = iter(dts)
        return [next(found) if ok else None for ok in inside.tolist()], texts
    strings = isinstance(values, list) and set(map(type, values)) == {str}
    if strings:
        parsed = iso_times(values)  # type: ignore[arg-type]
        if parsed is not None:
            return list(parsed[0]), parsed[1]
    out: list[datetime | None] = []
    for value in values.tolist() if isinstance(values, np.ndarray) else values:
        try:
            out.append(event_time(value))
        except (ValueError, OverflowError, OSError):
            out.append(None)
    kept = [v for v, t in zip(values, out, strict=True) if t is not None] if strings else []
    return out, kept if kept and _canonical(kept) else None
