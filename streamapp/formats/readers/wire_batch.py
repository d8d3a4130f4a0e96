"""A batch of binary payloads as one numpy buffer: the reads the columnar decoders share.

Avro (:mod:`.avro_plan`) and Protobuf (:mod:`.proto_plan`) payloads are read for every
row at once: varints, little-endian floats at any byte offset, ASCII string spans. A row
whose bytes break a read (too long a varint, a non-ASCII string) is marked not ``ok``,
so its caller decodes it record by record instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
_PAD = bytes(16)
"""Zero bytes after a batch, so a fixed-width read past a truncated record stays inside."""


class NoPlan(Exception):
    """A schema (pair) or a path needs what the columnar decoders do not do: its records
    are decoded record by record."""


class WireBatch:
    """Read positions and row verdicts over the payloads of one buffer."""

    def __init__(self, buf: bytes, n: int) -> None:
        self.buf = buf
        padded = buf + _PAD
        self.data = np.frombuffer(padded, np.uint8)
        self.floats = {size: np.ndarray((len(buf) + 2,), dtype, buffer=padded, strides=(1,))
                       for size, dtype in ((8, "<f8"), (4, "<f4"))}
        """Every byte offset read as a little-endian double / float (unaligned views)."""
        self.n = n
        self.limit = len(buf)
        self.pos: Ints = np.zeros(n, np.int64)
        self.ok: Mask = np.ones(n, bool)
        self._high: Ints | None = None
        self._text: str | None = None

    def fail(self, rows: Ints | None, bad: Mask) -> None:
        """Mark the rows of ``rows`` (every row when None) where ``bad`` holds."""
        if bad.any():
            self.ok[np.flatnonzero(bad) if rows is None else rows[bad]] = False

    def varints(self, at: Ints, rows: Ints | None, zigzag: bool) -> tuple[Ints, Ints]:
        """Varints at ``at``: (values, positions after them); 10-byte ones fail."""
        data = self.data
        byte = data[at]
        value = byte.astype(np.int64)
        end = at + 1
        more = np.flatnonzero(byte >= 0x80)
        if len(more):
            value &= 0x7F
        shift = 7
        while len(more):
            if shift > 56:
                long = np.zeros(len(at), bool)
                long[more] = True
                self.fail(rows, long)
                break
            byte = data[end[more]]
            value[more] |= (byte & 0x7F).astype(np.int64) << shift
            end[more] += 1
            more = more[byte >= 0x80]
            shift += 7
        return ((value >> 1) ^ -(value & 1) if zigzag else value), end

    def non_ascii(self, at: Ints, size: Ints) -> Mask:
        """Rows whose span holds a byte ≥ 0x80 (prefix sums over the batch, built once)."""
        if self._high is None:
            high = np.zeros(len(self.data) + 1, np.int64)
            np.cumsum(self.data >= 0x80, out=high[1:])
            self._high = high
        start = np.minimum(at, self.limit)
        stop = np.minimum(at + size, self.limit)
        return np.asarray(self._high[stop] - self._high[start] > 0)

    def texts(self, at: Ints, size: Ints) -> list[str]:
        """The ASCII spans ``[at, at + size)`` as strings."""
        if self._text is None:
            self._text = self.buf.decode("latin-1")  # exact for the ASCII spans read here
        text = self._text
        return [text[a:b] for a, b in zip(at.tolist(), (at + size).tolist(), strict=True)]

    def clamp(self, at: Ints) -> Ints:
        """Positions past the buffer held just past its end (reads there stay in the pad)."""
        return np.minimum(at, self.limit + 1)

    def floats_at(self, size: int, at: Ints) -> npt.NDArray[Any]:
        """Little-endian floats of ``size`` bytes at ``at``, as float64."""
        value = self.floats[size][at]
        return value if size == 8 else value.astype(np.float64)
