"""Avro binary encoding of whole columns: a batch of predictions without a call per field.

fastavro's ``schemaless_writer`` costs ~7 µs per prediction record here, five times
the JSON path. A prediction record is mostly per-batch constants (model, version,
variant, scored time) and a few per-event columns, so, as :mod:`streamapp.scoring.encode`
does for JSON, the constants are encoded once into a ``%`` template (with the Confluent
wire-format header) and the columns are encoded vectorised: zig-zag varints with numpy,
the scores as one little-endian float64 buffer cut per row. The bytes are exactly
fastavro's for the generated schema (:mod:`.avro_schemas`); the tests compare them.

Avro binary (specification 1.11): a ``long`` is a zig-zag varint; a ``string`` its byte
length then UTF-8; a ``double`` 8 bytes little-endian; a ``boolean`` one byte; a union
the branch index then the value; an array blocks of (count, items) ending with 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from math import floor
from typing import Any

import numpy as np

from streamapp.formats.wire import MAGIC

_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)
_COLUMNS = np.arange(10)
_BOOLS = np.array([b"\x00", b"\x01"], dtype=object)
_SMALL = [bytes([2 * n]) for n in range(64)]
"""The one-byte encodings of 0..63 (zig-zag doubles them)."""


def long_bytes(value: int) -> bytes:
    """The Avro ``long`` encoding of one integer (zig-zag varint).

    >>> long_bytes(0), long_bytes(-1), long_bytes(1), long_bytes(64)
    (b'\\x00', b'\\x01', b'\\x02', b'\\x80\\x01')
    """
    z = (value << 1) ^ (value >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def string_bytes(value: str) -> bytes:
    """The Avro ``string`` encoding: byte length, then UTF-8.

    >>> string_bytes("ab")
    b'\\x04ab'
    """
    raw = value.encode()
    return long_bytes(len(raw)) + raw


def longs(values: np.ndarray[Any, Any]) -> list[bytes]:
    """The Avro ``long`` encoding of each element of an int64 vector (vectorised).

    >>> longs(np.array([0, -1, 1, 64], dtype=np.int64))
    [b'\\x00', b'\\x01', b'\\x02', b'\\x80\\x01']
    >>> longs(np.array([1796083200000000])) == [long_bytes(1796083200000000)]
    True
    """
    if not len(values):
        return []
    v = np.asarray(values, dtype=np.int64)
    z = ((v << 1) ^ (v >> 63)).view(np.uint64)
    groups = ((z[:, None] >> _SHIFTS) & 0x7F).astype(np.uint8)  # (n, 10), low group first
    used = groups != 0
    sizes = np.where(used.any(axis=1), 10 - used[:, ::-1].argmax(axis=1), 1)
    groups[(sizes - 1)[:, None] > _COLUMNS] |= 0x80
    if (sizes == sizes[0]).all():  # the common case: one width for the whole column
        width = int(sizes[0])
        return np.ascontiguousarray(groups[:, :width]).view(f"V{width}").ravel().tolist()
    flat = groups[sizes[:, None] > _COLUMNS].tobytes()
    ends = np.cumsum(sizes).tolist()
    return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def micros(times: Sequence[datetime]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Aware datetimes as microseconds since the epoch (Avro ``timestamp-micros``), exactly.

    The whole seconds come from ``timestamp()`` (exact to far below a microsecond at any
    date a datetime holds), the microseconds from the field itself, so float rounding
    never moves a value.

    >>> from datetime import UTC
    >>> micros([datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC),
    ...         datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]).tolist()
    [1000005, -1]
    """
    return np.fromiter((floor(t.timestamp()) * 1_000_000 + t.microsecond for t in times),
                       dtype=np.int64, count=len(times))


def lengths(values: Sequence[bytes]) -> list[bytes]:
    """The Avro ``long`` encoding of each value's length (a string's or bytes' prefix).

    >>> lengths([b"ab", b"x" * 64])
    [b'\\x04', b'\\x80\\x01']
    """
    small = _SMALL
    return [small[n] if n < 64 else long_bytes(n) for n in map(len, values)]


def doubles(matrix: np.ndarray[Any, Any]) -> list[bytes]:
    """Each row of a float matrix as its little-endian float64 bytes (one buffer, cut per row).

    >>> doubles(np.array([[0.5], [2.0]], dtype=np.float32))
    [b'\\x00\\x00\\x00\\x00\\x00\\x00\\xe0?', b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00@']
    """
    if not len(matrix):
        return []
    rows = np.ascontiguousarray(matrix, dtype="<f8")
    return rows.view(f"V{8 * rows.shape[1]}").ravel().tolist()


def booleans(flags: np.ndarray[Any, np.dtype[np.bool_]]) -> list[bytes]:
    """Each flag as an Avro ``boolean`` byte.

    >>> booleans(np.array([True, False]))
    [b'\\x01', b'\\x00']
    """
    return _BOOLS[flags.astype(np.intp)].tolist()  # type: ignore[no-any-return]


def header(schema_id: int) -> bytes:
    """The Confluent wire-format header: magic byte 0 and the 4-byte big-endian schema id.

    >>> header(258)
    b'\\x00\\x00\\x00\\x01\\x02'
    """
    return bytes([MAGIC]) + schema_id.to_bytes(4, "big")


def escape(value: bytes) -> bytes:
    """``value`` as a literal inside a ``%`` template.

    >>> escape(b"5%")
    b'5%%'
    """
    return value.replace(b"%", b"%%")
