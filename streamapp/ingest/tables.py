"""CSV and Parquet rows as Kafka records, read by pyarrow's typed readers.

Column types come from the file (Parquet), from pyarrow's per-column inference
(CSV), or from a model's manifest when one is given, never from guessing each
cell. Rows become either :class:`~streamapp.schemas.Event` envelopes (id column,
time column, feature columns) or flat JSON objects (labels, anything else).
Files are read in record batches, so memory stays bounded whatever their size.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from streamapp.kafka.produce import KeyValue
from streamapp.registry.manifest import FeatureSpec

NOW = "now"
"""``--time-column now``: stamp every event with the time it is read."""


class InputError(ValueError):
    """The input file cannot be mapped as asked; the message names the column or flag."""


@dataclass(frozen=True)
class EnvelopeColumns:
    """Which columns make an event envelope."""

    id_column: str = "event_id"
    time_column: str = "event_time"
    """A column of RFC 3339 text or timestamps, or :data:`NOW`."""
    features: Sequence[str] | None = None
    """Feature columns; None: every column but the id and time columns."""

    def feature_names(self, columns: Sequence[str]) -> list[str]:
        """The feature columns of a file with ``columns``; raises InputError naming a missing one.

        >>> EnvelopeColumns().feature_names(["event_id", "event_time", "a", "b"])
        ['a', 'b']
        """
        needed = [self.id_column] + ([] if self.time_column == NOW else [self.time_column])
        hint = {self.id_column: "--id-column", self.time_column: "--time-column"}
        for name in needed:
            if name not in columns:
                extra = " (or --time-column now)" if name == self.time_column else ""
                raise InputError(
                    f"no column {name!r}: name the right one with {hint[name]}{extra}; "
                    f"columns: {', '.join(columns)}"
                )
        if self.features is None:
            return [c for c in columns if c not in needed]
        missing = [f for f in self.features if f not in columns]
        if missing:
            raise InputError(f"feature columns {missing} are not in the file")
        return list(self.features)


def column_types(
    specs: Sequence[FeatureSpec], text_columns: Sequence[str] = ()
) -> dict[str, pa.DataType]:
    """CSV column types from a manifest: numeric → float64, categorical → bool, int64 or
    string.

    >>> column_types([FeatureSpec(name="x", type="numeric")], ["id"])
    {'id': DataType(string), 'x': DataType(double)}
    """
    types: dict[str, pa.DataType] = {name: pa.string() for name in text_columns}
    for spec in specs:
        if spec.type == "numeric":
            types[spec.name] = pa.float64()
        elif all(type(c) is bool for c in spec.categories or ()):
            types[spec.name] = pa.bool_()
        elif all(isinstance(c, int) for c in spec.categories or ()):
            types[spec.name] = pa.int64()
        else:
            types[spec.name] = pa.string()
    return types


def table_format(path: Path, fmt: str) -> str:
    """``csv`` or ``parquet`` from ``--format`` or the file name; ``jsonl`` otherwise.

    >>> table_format(Path("a.parquet"), "auto"), table_format(Path("a.csv.gz"), "auto")
    ('parquet', 'csv')
    """
    if fmt != "auto":
        if fmt not in ("jsonl", "csv", "parquet"):
            raise InputError(f"unknown format {fmt!r} (auto, jsonl, csv or parquet)")
        return fmt
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    return "jsonl"


def read_batches(
    path: Path, fmt: str, types: dict[str, pa.DataType] | None = None
) -> Iterator[pa.RecordBatch]:
    """Record batches of a CSV (``-`` = stdin) or Parquet file; raises InputError when unreadable.

    ``types`` fixes CSV column types (unknown names are ignored); Parquet files carry theirs.
    """
    try:
        if fmt == "parquet":
            yield from pq.ParquetFile(path).iter_batches(batch_size=4096)
            return
        source: Any = sys.stdin.buffer if str(path) == "-" else str(path)
        convert = pa_csv.ConvertOptions(column_types=types or {})
        yield from pa_csv.open_csv(source, convert_options=convert)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(exc).splitlines()[0]) from None


def envelopes(batches: Iterator[pa.RecordBatch], columns: EnvelopeColumns) -> Iterator[KeyValue]:
    """One event envelope per row, keyed by its event id; null feature cells are left out."""
    features: list[str] | None = None
    for batch in batches:
        if features is None:
            features = columns.feature_names(batch.schema.names)
        for row in batch.to_pylist():
            event_id = row[columns.id_column]
            event_id = None if event_id is None else str(event_id)
            body = {
                "event_id": event_id,
                "event_time": _time(row, columns.time_column),
                "features": {f: row[f] for f in features if row[f] is not None},
            }
            yield (None if event_id is None else event_id.encode()), _json(body)


def rows(batches: Iterator[pa.RecordBatch], key_field: str) -> Iterator[KeyValue]:
    """One flat JSON object per row (nulls kept), keyed by ``key_field`` when present.

    Timestamp cells (a CSV column of ISO 8601 text is read as one) are written as RFC 3339
    text, with their offset; a naive one stays naive, for the topic's schema to reject, as
    in an event envelope. Raises :class:`InputError` naming a column JSON cannot hold.
    """
    for key, row in records(batches, key_field):
        yield key, _json(row)


def records(
    batches: Iterator[pa.RecordBatch], key_field: str
) -> Iterator[tuple[bytes | None, dict[str, Any]]]:
    """One row as a dict per row (nulls kept, timestamps as datetimes), keyed by ``key_field``
    when present: what a registry format's serializer writes."""
    for batch in batches:
        for row in batch.to_pylist():
            key = row.get(key_field)
            yield (None if key is None else str(key).encode()), row


def _json(row: dict[str, Any]) -> bytes:
    """``row`` as a JSON object; timestamps of any precision as RFC 3339 text.

    >>> import pandas as pd
    >>> _json({"t": pd.Timestamp("2026-11-29T12:00:05.123456789Z"), "n": 1})
    b'{"t":"2026-11-29T12:00:05.123456789+00:00","n":1}'
    """
    try:
        return orjson.dumps(row, default=_rfc3339)
    except orjson.JSONEncodeError:
        nested = row.get("features")  # an envelope's features
        cells = [*row.items(), *(nested.items() if isinstance(nested, dict) else ())]
        bad = next((name, value) for name, value in cells if not _encodable(value))
        raise InputError(
            f"column {bad[0]!r} holds {type(bad[1]).__name__} values, which JSON cannot hold"
        ) from None


def _rfc3339(value: object) -> str:
    """orjson's fallback: datetimes it does not know (pandas' nanosecond ``Timestamp``)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _encodable(value: object) -> bool:
    try:
        orjson.dumps(value, default=_rfc3339)
    except orjson.JSONEncodeError:
        return False
    return True


def _time(row: dict[str, Any], column: str) -> str | None:
    """The event time as text: RFC 3339 for timestamps (a naive one stays naive: rejected)."""
    if column == NOW:
        return datetime.now(UTC).isoformat()
    value = row[column]
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)
