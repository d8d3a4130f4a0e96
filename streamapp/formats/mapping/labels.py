"""Label records in a registry format → (event id, label, label time) for the monitor.

When ``formats.labels`` is ``avro``, ``protobuf`` or ``json_schema``, the monitor's data
plane decodes a batch of label values with the events' readers (:mod:`~..readers`, schemas
cached by id through the :class:`~.resolver.SchemaResolver`) and reads three fields of
each record (:class:`LabelFields`): the event id (``formats.label_id_field``; missing:
the Kafka key), the label (``formats.label_field``: a class or a number) and the label
time (``formats.label_time_field``; missing: the record's timestamp). Bad records come
back as ``(reason, detail)``; a registry outage blocks and retries (never a reject).

A batch of at least the reader's ``batch_from`` values is read as columns of the three
paths (the reader's ``columns``, as for events): the rows the reader vouches for and whose
every check passes (:meth:`LabelFields.columns`) are built from the columns, every other
row goes record by record, which names its reason, so each row reads as it would alone.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from google.protobuf.message import Message

from streamapp.formats.mapping.fields import MILLIS, MISSING, Column, event_time, lookup
from streamapp.formats.mapping.topic import RegistryFormat, input_format
from streamapp.metrics.formats import FormatMetrics
from streamapp.schemas import DeadLetterReason
from streamapp.settings.formats import FormatSettings, SchemaRegistrySettings

R = DeadLetterReason
LabelValue = bool | int | float | str
Label = tuple[str, LabelValue, datetime]
"""(event id, label, label time) of one label record."""
LabelOrReject = Label | tuple[DeadLetterReason, str]
_TIMESTAMP = "google.protobuf.Timestamp"
_LABEL_TYPES = (bool, int, float, str)
_INT64 = (-2**63, 2**63)
"""Integer labels a column holds as the per-record path reads them (orjson reads a JSON
integer past 64 bits as a float: such rows go record by record)."""


def _field(record: Any, path: list[str]) -> Any:
    """:func:`~.fields.lookup`, with a shortcut for a top-level field of a dict (the common case).

    >>> _field({"a": None}, ["a"]) is MISSING, _field({"a": {"b": 1}}, ["a", "b"])
    (True, 1)
    """
    if type(record) is dict and len(path) == 1:
        value = record.get(path[0])
        return MISSING if value is None else value
    return lookup(record, path)


def label_time(value: Any) -> datetime | None:
    """A label time: what :func:`~.fields.event_time` reads, or a Protobuf ``Timestamp``.

    >>> from google.protobuf.timestamp_pb2 import Timestamp
    >>> label_time(Timestamp(seconds=1_700_000_000)).isoformat()
    '2023-11-14T22:13:20+00:00'
    """
    if isinstance(value, Message):
        if value.DESCRIPTOR.full_name != _TIMESTAMP:
            return None
        return value.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
    return event_time(value)


def _key_text(key: bytes | None) -> str | None:
    """The Kafka key as the event id (None: no key, or not UTF-8)."""
    try:
        return key.decode("utf-8") if key else None
    except UnicodeDecodeError:
        return None


def _label_ok(value: Any) -> bool:
    """A column's label value the per-record path accepts exactly as it is."""
    kind = type(value)
    if kind is str or kind is bool:
        return True
    if kind is int:
        return bool(_INT64[0] <= value < _INT64[1])
    return kind is float and math.isfinite(value)


def _column_labels(column: Column) -> tuple[list[Any], list[bool]]:
    """A label column's values and, per value, whether it is a good label as it is."""
    if isinstance(column, np.ndarray):
        if column.dtype.kind == "i":
            return column.tolist(), [True] * len(column)
        if column.dtype.kind == "f":
            return column.tolist(), np.isfinite(column).tolist()
        column = column.tolist()
    return list(column), list(map(_label_ok, column))


def _millis_time(value: int) -> datetime | None:
    """Epoch milliseconds as the per-record path reads them (Avro ``timestamp-millis``
    included), None past :data:`~.fields.MILLIS` (those rows go record by record)."""
    if not MILLIS[0] <= value <= MILLIS[1]:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def _column_time(value: Any) -> datetime | None:
    """A time column's value as :func:`label_time` reads it (None: record by record)."""
    if type(value) is int:
        return _millis_time(value)
    if type(value) is not str:
        return None
    try:
        return event_time(value)
    except (ValueError, OverflowError, OSError):
        return None


def _column_times(column: Column | None, stamps: list[int | None]) -> list[datetime | None]:
    """Per vouched row its label time: from the column, or (None column) the record's
    timestamp; None where the per-record path must read the row."""
    if column is None:
        return [_millis_time(s) if type(s) is int and s else None for s in stamps]
    if isinstance(column, np.ndarray):
        if column.dtype.kind != "i":
            return [None] * len(column)
        if not ((column >= MILLIS[0]) & (column <= MILLIS[1])).all():
            return list(map(_millis_time, column.tolist()))
        stamp = datetime.fromtimestamp
        return [stamp(v / 1000, UTC) for v in column.tolist()]
    return list(map(_column_time, column))


class LabelFields:
    """Where a label record's event id, label and label time are read from."""

    def __init__(self, label_id_field: str = "event_id", label_field: str = "label",
                 label_time_field: str = "label_time") -> None:
        self.names = (label_id_field, label_field, label_time_field)
        self.event_id = label_id_field.split(".")
        self.label = label_field.split(".")
        self.time = label_time_field.split(".")
        self.paths = [tuple(self.event_id), tuple(self.label), tuple(self.time)]
        """The column paths of :meth:`columns` (when two settings name one path, batches
        are read record by record)."""

    def columns(self, rows: Sequence[int], columns: Sequence[Column | None],
                keys: Sequence[bytes | None], timestamps_ms: Sequence[int | None]
                ) -> tuple[list[int], list[Label], list[int]]:
        """Columns of :attr:`paths` at the input rows ``rows`` → the rows whose every check
        passes as in :meth:`read`, their labels, and the other rows (to read one by one:
        :meth:`read` names their reasons).

        >>> found, labels, other = LabelFields().columns(
        ...     [0, 1], [["e-0", ""], np.array([1, 0]), None], [None, None],
        ...     [1_700_000_000_000, 1])
        >>> found, labels[0][:2], labels[0][2].isoformat(), other
        ([0], ('e-0', 1), '2023-11-14T22:13:20+00:00', [1])
        """
        ids, labels, times = columns
        if labels is None or not rows:  # no label: read() names the reject
            return [], [], list(rows)
        if ids is None:
            ids = [_key_text(keys[i]) for i in rows]
        elif isinstance(ids, np.ndarray):
            ids = ids.tolist()
        values, good = _column_labels(labels)
        whens = _column_times(times, [timestamps_ms[i] for i in rows])
        if (all(good) and None not in whens and set(map(type, ids)) == {str}
                and min(map(len, ids)) > 0 and max(map(len, ids)) <= 256):
            return list(rows), list(zip(ids, values, whens, strict=True)), []  # type: ignore[arg-type]
        found: list[int] = []
        out: list[Label] = []
        other: list[int] = []
        for i, event_id, label, ok, when in zip(rows, ids, values, good, whens, strict=True):
            if ok and when is not None and type(event_id) is str and 0 < len(event_id) <= 256:
                found.append(i)
                out.append((event_id, label, when))
            else:
                other.append(i)
        return found, out, other

    def read(self, record: Any, key: bytes | None, timestamp_ms: int | None) -> LabelOrReject:
        """``(event id, label, label time)`` of one decoded record, or ``(reason, detail)``.

        >>> f = LabelFields()
        >>> f.read({"label": 1}, b"e-1", 1_700_000_000_000)[:2]
        ('e-1', 1)
        >>> f.read({"event_id": "e-1"}, None, 1)
        (<DeadLetterReason.SCHEMA_VIOLATION: 'schema_violation'>, "no label field 'label'")
        """
        id_name, label_name, time_name = self.names
        event_id = _field(record, self.event_id)
        if event_id is MISSING and key:
            with contextlib.suppress(UnicodeDecodeError):
                event_id = key.decode("utf-8")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 256:
            return R.SCHEMA_VIOLATION, f"no event id: neither the field {id_name!r} nor the key"
        label = _field(record, self.label)
        if label is MISSING:
            return R.SCHEMA_VIOLATION, f"no label field {label_name!r}"
        if not isinstance(label, _LABEL_TYPES):
            return R.WRONG_TYPE, (f"label {label_name!r} is {type(label).__name__}: "
                                  "not a class or a number")
        if isinstance(label, float) and not math.isfinite(label):
            return R.NON_FINITE, f"label {label_name!r} is {label}"
        raw = _field(record, self.time)
        if type(raw) is datetime and raw.tzinfo is not None:  # Avro timestamp-millis
            return event_id, label, raw
        try:
            when = (label_time(raw) if raw is not MISSING else
                    datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms else None)
        except (ValueError, OverflowError, OSError):
            when = None
        if when is None:
            return R.SCHEMA_VIOLATION, (f"label time {time_name!r} {str(raw)[:64]!r} is not "
                                        "an aware timestamp")
        return event_id, label, when


class LabelFormat:
    """The labels topic in a registry format; never raises for bad input (an outage waits).

    :meth:`read` raises :class:`~.resolver.RegistryStopped` only when the worker stops
    while the registry is unreachable (the batch is then not processed).
    """

    def __init__(self, base: RegistryFormat, fields: LabelFields) -> None:
        self.base = base
        self.name = base.name
        self.fields = fields

    def ready_reason(self) -> str | None:
        """None unless the Schema Registry is unreachable right now."""
        return self.base.ready_reason()

    def read(self, values: Sequence[bytes | None], keys: Sequence[bytes | None],
             timestamps_ms: Sequence[int | None]) -> list[LabelOrReject]:
        """Per value: ``(event id, label, label time)`` or ``(reason, detail)``; a batch of
        at least the reader's ``batch_from`` values through its columns, the rows they
        do not vouch for (and a smaller batch) record by record, with the same results."""
        reader, fields = self.base.reader, self.fields
        if len(values) < reader.batch_from or len(set(fields.paths)) < 3:
            return self._records(values, keys, timestamps_ms)
        rows, columns, rest = reader.columns(values, fields.paths, fields.time)
        found, labels, other = fields.columns(rows, columns, keys, timestamps_ms)
        self.base.count_ok(len(found))
        if len(found) == len(values) and found == list(range(len(values))):
            return labels  # type: ignore[return-value]  # every row from the columns
        out: list[LabelOrReject | None] = [None] * len(values)
        for i, label in zip(found, labels, strict=True):
            out[i] = label
        rest = sorted(rest + other) if other else rest
        if rest:
            read = self._records([values[i] for i in rest], [keys[i] for i in rest],
                                 [timestamps_ms[i] for i in rest])
            for i, label_or_reject in zip(rest, read, strict=True):
                out[i] = label_or_reject
        return out  # type: ignore[return-value]  # every row is set

    def _records(self, values: Sequence[bytes | None], keys: Sequence[bytes | None],
                 timestamps_ms: Sequence[int | None]) -> list[LabelOrReject]:
        """Record by record: the reader's decoded records through :meth:`LabelFields.read`."""
        read = self.fields.read
        out: list[LabelOrReject] = [
            record if type(record) is tuple else read(record, key, stamp)
            for record, key, stamp in zip(self.base.reader.read(values), keys, timestamps_ms,
                                          strict=True)]
        self.base.count(out)
        return out


def label_format(
    formats: FormatSettings,
    topic: str,
    registry: SchemaRegistrySettings,
    metrics: FormatMetrics,
    repeat_interval_s: float = 60.0,
    stop: threading.Event | None = None,
) -> LabelFormat | None:
    """The format of the labels topic ``topic`` (None for streamapp's JSON label envelope).

    Avro labels are read into the latest version of the ``<topic>-value`` subject.
    Raises ``ConfigError`` when ``schema_registry.url`` is not set.
    """
    base = input_format(formats.labels, topic, formats, registry, metrics, repeat_interval_s,
                        stop)
    if base is None:
        return None
    return LabelFormat(base, LabelFields(formats.label_id_field, formats.label_field,
                                         formats.label_time_field))
