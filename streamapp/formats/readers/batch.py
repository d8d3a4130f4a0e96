"""What the topic readers share: the reader contract, the batch helpers and the types.

A reader (:mod:`.avro_reader`, :mod:`.protobuf_reader`, :mod:`.json_schema_reader`)
turns a batch of wire-format values into, per value, the decoded record or a
``(reason, detail)`` reject (:meth:`RecordReader.read`), or into columns of the values at
the paths a model needs, for the rows its batch path vouches for (:meth:`RecordReader.columns`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from confluent_kafka.schema_registry import Schema

from streamapp.formats.mapping.fields import Column
from streamapp.formats.wire import HEADER, NotWireFormat, schema_id
from streamapp.schemas import DeadLetterReason

R = DeadLetterReason
Reject = tuple[DeadLetterReason, str]
Decoded = Any | Reject
"""A record (a dict, or a Protobuf message) or a reject."""
Columns = tuple[list[int], list[Column | None], list[int]]
"""``(rows vouched for, per path its values at those rows or None where no row has it,
the other rows: the per-record path decodes them and names their reasons)``."""


class WrongSchemaType(ValueError):
    """The id names a schema of another format than the topic's (reason ``schema_mismatch``)."""


class RecordReader(Protocol):
    """Decodes one topic format; never raises for bad input."""

    name: str
    batch_from: int
    """The fewest values :meth:`columns` is worth its fixed cost for (fewer: record by record)."""

    def read(self, values: Sequence[bytes | None]) -> list[Decoded]:
        """Per value, the decoded record or ``(reason, detail)``."""
        ...

    def columns(self, values: Sequence[bytes | None], paths: Sequence[Sequence[str]],
                time_path: Sequence[str]) -> Columns:
        """The values at ``paths`` of the records the batch path vouches for (see
        :data:`Columns`); ``time_path`` may hold epoch milliseconds."""
        ...


def merge(groups: Sequence[tuple[list[int], list[Column | None]]], rest: list[int]) -> Columns:
    """Per-group ``(rows, columns)`` as one :data:`Columns`; a group lacking a path that
    another holds joins ``rest``.

    >>> merge([([0], [np.array([1.5])]), ([2], [None])], [1])
    ([0], [array([1.5])], [1, 2])
    """
    if len(groups) == 1:
        return groups[0][0], groups[0][1], rest
    width = len(groups[0][1]) if groups else 0
    held = [any(g[1][k] is not None for g in groups) for k in range(width)]
    rows: list[int] = []
    parts: list[list[Column]] = [[] for _ in range(width)]
    for found, columns in groups:
        if any(h and c is None for h, c in zip(held, columns, strict=True)):
            rest.extend(found)
            continue
        rows.extend(found)
        for k, column in enumerate(columns):
            if column is not None:
                parts[k].append(column)
    merged: list[Column | None] = [
        None if not h else np.concatenate(p) if all(isinstance(c, np.ndarray) for c in p)
        else [v for c in p for v in (c.tolist() if isinstance(c, np.ndarray) else c)]
        for h, p in zip(held, parts, strict=True)]
    return rows, merged, sorted(rest)


@dataclass
class Joined:
    """A batch's values as one buffer: value i is ``buf[starts[i]:ends[i]]``."""

    buf: bytes
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]

    @classmethod
    def of(cls, values: Sequence[bytes | None]) -> Joined:
        """``values`` joined (a tombstone is an empty value)."""
        joined: Any = values if None not in values else [v or b"" for v in values]
        ends = np.cumsum(np.fromiter(map(len, joined), np.int64, len(values)))
        starts = np.empty_like(ends)
        starts[:1] = 0
        starts[1:] = ends[:-1]
        return cls(b"".join(joined), starts, ends)

    def byte(self, offset: int) -> npt.NDArray[np.int64]:
        """Each value's byte at ``offset`` (-1 past its end)."""
        data = np.frombuffer(self.buf + b"\x00", np.uint8)
        at = self.starts + offset
        found = data[np.minimum(at, len(self.buf))].astype(np.int64)
        return np.where(at < self.ends, found, -1)


def headers(batch: Joined) -> tuple[dict[int, list[int]], list[int]]:
    """Rows by schema id, and the rows without a wire-format header (by numpy)."""
    buf, starts, ends = batch.buf, batch.starts, batch.ends
    data = np.frombuffer(buf + bytes(HEADER), np.uint8)
    head = data[starts[:, None] + np.arange(HEADER)].astype(np.int64)
    wire = (ends - starts >= HEADER) & (head[:, 0] == 0)
    ids = (head[:, 1] << 24) | (head[:, 2] << 16) | (head[:, 3] << 8) | head[:, 4]
    bad = np.flatnonzero(~wire).tolist()
    good = np.flatnonzero(wire)
    first = int(ids[good[0]]) if len(good) else 0
    if len(good) and (ids[good] == first).all():
        return {first: good.tolist()}, bad
    return {int(k): good[ids[good] == k].tolist() for k in np.unique(ids[good])}, bad


def check_type(schema: Schema, expected: str) -> None:
    """:class:`WrongSchemaType` unless ``schema`` is of the ``expected`` type."""
    found = (schema.schema_type or "AVRO").upper()
    if found != expected:
        raise WrongSchemaType(f"schema is {found}, the topic's format is {expected}")


def header(value: bytes | None) -> int | Reject:
    """One value's schema id, or its ``not_wire_format`` reject."""
    try:
        return schema_id(value)
    except NotWireFormat as exc:
        return R.NOT_WIRE_FORMAT, str(exc)


def same_value(record_value: Any, column_value: Any) -> bool:
    """A decoded record's value equals a plan's, type included (a ``datetime`` is the plan's
    epoch milliseconds)."""
    if hasattr(record_value, "timestamp"):
        return bool(round(record_value.timestamp() * 1000) == int(column_value))
    expected, found = (v.item() if isinstance(v, np.generic) else v
                       for v in (record_value, column_value))
    same = expected == found or (expected != expected and found != found)  # NaN is NaN
    return bool(same) and type(expected) is type(found)
