"""Protobuf messages of one type decoded straight into columns, a batch at a time.

:class:`ProtoPlan` reads the fields of a message type in field-number order, the order
every standard serializer writes them in, for every row of a batch at once (a one- or
two-byte tag compared per row, then the value: a varint, a little-endian double or
float, a length-delimited string or nested message, read by :mod:`.wire_batch`). A field
a row does not hold takes its proto3 default, or is missing when the field has presence
(as :func:`~.fields.lookup` reads it). A row with anything else (an unknown or repeated
field, fields out of order or twice, a non-ASCII string, a 32-bit value out of range) is
left out and parsed by upb record by record. Paths through repeated fields, to a whole
message, or to a value other than a number (a string for the envelope) get no plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf.descriptor import FieldDescriptor as F

from streamapp.formats.mapping.fields import repeated
from streamapp.formats.readers.wire_batch import Ints, Mask, NoPlan, WireBatch

Column = npt.NDArray[Any] | list[str]
_WIRE = {F.TYPE_DOUBLE: 1, F.TYPE_FIXED64: 1, F.TYPE_SFIXED64: 1, F.TYPE_FLOAT: 5,
         F.TYPE_FIXED32: 5, F.TYPE_SFIXED32: 5, F.TYPE_STRING: 2, F.TYPE_BYTES: 2,
         F.TYPE_MESSAGE: 2}
"""Wire types other than varint (0)."""
_RANGE = {F.TYPE_INT32: (-2**31, 2**31), F.TYPE_SINT32: (-2**31, 2**31),
          F.TYPE_UINT32: (0, 2**32)}
"""32-bit integers: the values upb keeps as they are (it truncates others)."""
_NEEDED = {*_RANGE, F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_DOUBLE, F.TYPE_FLOAT, F.TYPE_STRING}
"""Types a needed path may end at (no enum: a proto2 one reads unknown values as default)."""


@dataclass
class _Field:
    tag: int
    type: int
    slot: int = -1
    nested: _Message | None = None


@dataclass
class _Message:
    fields: list[_Field] = field(default_factory=list)
    implicit: list[int] = field(default_factory=list)
    """Slots read from this message that have no presence: absent means the default."""


class ProtoPlan:
    """A compiled message type: payloads → one column per needed path."""

    def __init__(self, desc: Any, paths: Sequence[Sequence[str]]) -> None:
        self.present = [_holds(desc, p) for p in paths]
        slots = {tuple(p): i for i, p in enumerate(q for q, h in zip(paths, self.present,
                                                                       strict=True) if h)}
        self.kinds: list[int] = [0] * len(slots)
        self.root = self._message(desc, slots, (), set())

    def _message(self, desc: Any, slots: dict[tuple[str, ...], int], prefix: tuple[str, ...],
                 seen: set[str]) -> _Message:
        if desc.full_name in seen:
            raise NoPlan(f"recursive message {desc.full_name}")
        out = _Message()
        for fd in sorted(desc.fields, key=lambda f: f.number):
            if repeated(fd) or fd.number >= 2048 or fd.type == F.TYPE_GROUP:
                continue  # a row holding it is not consumed: it goes record by record
            path = (*prefix, fd.name)
            step = _Field((fd.number << 3) | _WIRE.get(fd.type, 0), fd.type, slots.get(path, -1))
            if step.slot >= 0:
                if fd.type not in _NEEDED:
                    raise NoPlan(f"{'.'.join(path)} is a {fd.type} field")
                self.kinds[step.slot] = fd.type
                if not fd.has_presence:
                    out.implicit.append(step.slot)
            if fd.type == F.TYPE_MESSAGE and any(p[:len(path)] == path for p in slots):
                if not fd.has_presence:
                    raise NoPlan(f"{'.'.join(path)} has no presence")
                step.nested = self._message(fd.message_type, slots, path,
                                            seen | {desc.full_name})
            out.fields.append(step)
        return out

    def decode(self, buf: bytes, starts: Ints, ends: Ints) -> tuple[Mask, list[Column | None]]:
        """``(rows vouched for, one column per path at those rows)`` of the payloads
        ``buf[starts[i]:ends[i]]``."""
        run = _Run(buf, len(starts), self.kinds)
        run.pos = starts.copy()
        run.message(self.root, np.arange(len(starts)), ends)
        ok = run.ok
        for have in run.have:
            ok &= have
        columns = iter([run.column(slot, ok) for slot in range(len(self.kinds))])
        return ok, [next(columns) if p else None for p in self.present]


class _Run(WireBatch):
    """One batch's decode: the wire reads, plus each slot's values and where it has one."""

    def __init__(self, buf: bytes, n: int, kinds: list[int]) -> None:
        super().__init__(buf, n)
        self.kinds = kinds
        self.have: list[Mask] = [np.zeros(n, bool) for _ in kinds]
        self.values: list[Any] = [
            (np.zeros(n, np.int64), np.zeros(n, np.int64)) if k == F.TYPE_STRING else
            np.zeros(n, np.float64 if k in (F.TYPE_DOUBLE, F.TYPE_FLOAT) else np.int64)
            for k in kinds]

    def message(self, msg: _Message, rows: Ints, ends: Ints) -> None:
        """Read ``msg``'s fields at ``rows`` (their payloads end at ``ends``)."""
        for slot in msg.implicit:
            self.have[slot][rows] = True
        data = self.data
        for fd in msg.fields:
            at = self.pos[rows]
            if fd.tag < 0x80:
                hit = (at < ends) & (data[at] == fd.tag)
            else:
                hit = ((at < ends) & (data[at] == ((fd.tag & 0x7F) | 0x80))
                       & (data[at + 1] == (fd.tag >> 7)))
            if not hit.any():
                continue
            sub, at, stop = rows[hit], at[hit] + (1 if fd.tag < 0x80 else 2), ends[hit]
            self.pos[sub] = self.clamp(self._field(fd, sub, at, stop))
        self.fail(rows, self.pos[rows] != ends)

    def _field(self, fd: _Field, rows: Ints, at: Ints, stop: Ints) -> Ints:
        """Read one field's value at ``at`` (rows ``rows``): the position after it."""
        wire = fd.tag & 7
        if wire == 0:
            value, end = self.varints(at, rows, zigzag=fd.type in (F.TYPE_SINT32, F.TYPE_SINT64))
            if fd.type in _RANGE:
                low, high = _RANGE[fd.type]
                self.fail(rows, (value < low) | (value >= high))
            self._keep(fd.slot, rows, value)
            return end
        if wire in (1, 5):
            width = 8 if wire == 1 else 4
            if fd.slot >= 0:
                self._keep(fd.slot, rows, self.floats_at(width, at))
            return at + width
        size, at = self.varints(at, rows, zigzag=False)
        end = at + size
        self.fail(rows, end > stop)
        if fd.nested is not None:
            self.pos[rows] = self.clamp(at)
            self.message(fd.nested, rows, np.minimum(end, stop))
        elif fd.type == F.TYPE_STRING:
            self.fail(rows, self.non_ascii(at, size))
            self._keep(fd.slot, rows, (at, size))
        return end

    def _keep(self, slot: int, rows: Ints, value: Any) -> None:
        if slot < 0:
            return
        self.have[slot][rows] = True
        if isinstance(value, tuple):
            self.values[slot][0][rows], self.values[slot][1][rows] = value
        else:
            self.values[slot][rows] = value

    def column(self, slot: int, ok: Mask) -> Column:
        """The values of ``slot`` at the rows of ``ok``."""
        value = self.values[slot]
        if isinstance(value, tuple):
            return self.texts(value[0][ok], value[1][ok])
        return np.asarray(value[ok])


def _holds(desc: Any, path: Sequence[str]) -> bool:
    """Whether messages of ``desc`` can hold ``path``; :class:`NoPlan` for a path only
    :func:`~.fields.lookup` reads (through a repeated field, to a whole message)."""
    node = desc
    for part in path:
        fd = node.fields_by_name.get(part) if node is not None else None
        if fd is None:
            return False
        if repeated(fd):
            raise NoPlan(f"{part} is repeated")
        node = fd.message_type
    if node is not None:
        raise NoPlan(f"{'.'.join(path)} is a message")
    return True
