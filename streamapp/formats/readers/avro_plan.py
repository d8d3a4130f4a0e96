"""Avro records of one writer schema decoded straight into columns, a batch at a time.

:func:`compile_plan` turns a (writer, reader) schema pair and the record paths a model
needs into a :class:`ColumnPlan`: the writer's fields as numpy steps over every record of
a batch at once (varints, floats, string spans; nested records, and unions by row
subsets), keeping the values at the needed paths only. A row the plan cannot vouch for
(truncated, a union or enum index out of range, a non-ASCII string, a long varint, a null
where a value is needed) is left out, and the caller decodes it with fastavro, which
names its reason. Arrays, maps, aliases, a needed field filled from a reader default,
logical types other than ``timestamp-millis`` (event time only) and needed values that
are neither numbers nor strings get no plan (the schema pair is read record by record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.formats.readers.wire_batch import Ints, Mask, NoPlan, WireBatch

Column = npt.NDArray[Any] | list[str]
"""One path's values at the vouched rows: int64 or float64, or texts."""
_SKIP = {"null": 0, "boolean": 1}
_FLOATS = {"float": 4, "double": 8}
_VARINTS = ("int", "long", "enum")
_PROMOTE = {("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"),
            ("long", "double"), ("float", "double")}
_MILLIS = (-62_135_596_800_000 + 86_400_000, 253_402_300_799_999 - 86_400_000)
"""Epoch milliseconds fastavro surely reads as a ``datetime`` (a day inside its range)."""


@dataclass
class _Step:
    """One writer schema node: how it is read (or skipped) and which path keeps its value."""

    kind: str
    size: int = 0
    slot: int = -1
    parts: list[_Step] = field(default_factory=list)
    millis: bool = False
    floats: bool = False
    """An int or long read as a float or double (the reader's type)."""


def _type(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    return str(schema["type"] if isinstance(schema, dict) else schema)


class _Compiler:
    """Walks the writer schema next to the reader's, slot by slot."""

    def __init__(self, paths: list[tuple[str, ...]], time_slot: int) -> None:
        self.slots = {p: i for i, p in enumerate(paths)}
        self.time_slot = time_slot

    def node(self, writer: Any, reader: Any, path: tuple[str, ...] | None) -> _Step:
        """``writer`` read as ``reader`` (None: dropped); ``path`` None inside a union."""
        for schema in (writer, reader):
            if isinstance(schema, dict) and schema.get("aliases"):
                raise NoPlan("aliases")
        slot = self.slots.get(path, -1) if path else -1
        kind = _type(writer)
        if kind == "record":
            if slot >= 0 or (reader is not None and _type(reader) != "record"):
                raise NoPlan("a record read as a value")
            return _Step("record", parts=self.fields(writer, reader, path))
        if kind == "union":
            return self.union(writer, reader, slot)
        if kind in ("array", "map"):
            raise NoPlan(kind)
        return self.leaf(writer, reader, slot)

    def fields(self, writer: Any, reader: Any, path: tuple[str, ...] | None) -> list[_Step]:
        rfields = {f["name"]: f for f in reader["fields"]} if reader is not None else {}
        names = {f["name"] for f in writer["fields"]}
        if any(f.get("aliases") for f in rfields.values()):
            raise NoPlan("field aliases")
        if path is not None and any(p[:len(path)] == path and len(p) > len(path)
                                    and p[len(path)] in rfields and p[len(path)] not in names
                                    for p in self.slots):
            raise NoPlan("a needed field filled from the reader's default")
        parts = []
        for f in writer["fields"]:
            rf = rfields.get(f["name"])
            inner = None if path is None or rf is None else (*path, f["name"])
            parts.append(self.node(f["type"], None if rf is None else rf["type"], inner))
        return parts

    def union(self, writer: list[Any], reader: Any, slot: int) -> _Step:
        if reader is not None and reader != writer:
            raise NoPlan("a union read as another type")
        branches = [self.node(b, None if reader is None else b, None) for b in writer]
        if slot >= 0:
            typed = [i for i, b in enumerate(writer) if b != "null"]
            if len(typed) != 1:
                raise NoPlan("a needed union of several types")
            branches[typed[0]] = self.leaf(writer[typed[0]], writer[typed[0]], slot)
        return _Step("union", parts=branches)

    def leaf(self, writer: Any, reader: Any, slot: int) -> _Step:
        kind = _type(writer)
        millis = False
        for schema in (writer, reader) if reader is not None else ():
            logical = schema.get("logicalType") if isinstance(schema, dict) else None
            if logical is not None and (logical != "timestamp-millis" or kind != "long"):
                raise NoPlan(f"logical type {logical}")
            millis = millis or logical is not None
        if slot >= 0:
            rkind = _type(reader)
            if kind != rkind and (kind, rkind) not in _PROMOTE:
                raise NoPlan(f"{kind} read as {rkind}")
            if kind not in ("int", "long", "float", "double", "string") or (
                    millis and slot != self.time_slot):
                raise NoPlan(f"a needed {kind} value")
        if kind in _SKIP:
            return _Step(kind, _SKIP[kind])
        if kind == "fixed":
            return _Step(kind, int(writer["size"]))
        if kind == "enum":
            return _Step(kind, len(writer["symbols"]))
        if kind in _FLOATS:
            return _Step(kind, _FLOATS[kind], slot)
        if kind in ("int", "long", "string", "bytes"):
            return _Step(kind, slot=slot, millis=millis,
                         floats=slot >= 0 and _type(reader) in _FLOATS)
        raise NoPlan(f"writer type {kind}")


@dataclass
class ColumnPlan:
    """A compiled (writer, reader) pair: payloads → one column per needed path."""

    root: _Step
    present: list[bool]
    """Whether each path is in the reader schema (an absent one is a None column)."""

    def decode(self, buf: bytes, starts: Ints, ends: Ints
               ) -> tuple[Mask, list[Column | None]]:
        """``(rows vouched for, one column per path at those rows)`` of the payloads
        ``buf[starts[i]:ends[i]]``."""
        width = sum(self.present)
        run = _Run(buf, len(starts), width)
        run.pos = starts.copy()
        run.step(self.root, None)
        ok = run.ok & (run.pos <= ends)
        for found in run.found:
            ok &= found
        columns = iter([run.column(slot, ok) for slot in range(width)])
        return ok, [next(columns) if p else None for p in self.present]


class _Run(WireBatch):
    """One batch's decode: the wire reads, plus the captured values of each path."""

    def __init__(self, buf: bytes, n: int, width: int) -> None:
        super().__init__(buf, n)
        self.found: list[Mask] = [np.zeros(n, bool) for _ in range(width)]
        self.got: list[tuple[Ints | None, Any, bool]] = [(None, None, False)] * width

    def step(self, node: _Step, rows: Ints | None) -> None:
        """Read ``node`` at the rows ``rows`` (every row when None)."""
        kind = node.kind
        if kind == "record":
            for part in node.parts:
                self.step(part, rows)
            return
        at = self.pos if rows is None else self.pos[rows]
        if kind in _VARINTS or kind == "union":
            value, at = self.varints(at, rows, zigzag=True)
            self._set(rows, self.clamp(at))
            if kind == "union":
                self.fail(rows, (value < 0) | (value >= len(node.parts)))
                every = np.arange(self.n) if rows is None else rows
                for index, branch in enumerate(node.parts):
                    sub = every[value == index]
                    if len(sub):
                        self.step(branch, sub)
            elif kind == "enum":
                self.fail(rows, (value < 0) | (value >= node.size))
            else:
                if node.millis:
                    self.fail(rows, (value < _MILLIS[0]) | (value > _MILLIS[1]))
                self._keep(node.slot, rows, value.astype(np.float64) if node.floats else value,
                           False)
            return
        if kind in ("string", "bytes"):
            size, at = self.varints(at, rows, zigzag=True)
            self.fail(rows, size < 0)
            size = np.maximum(size, 0)
            if kind == "string":
                self.fail(rows, self.non_ascii(at, size))
            self._keep(node.slot, rows, (at, size), True)
            at = at + size
        elif kind in _FLOATS and node.slot >= 0:
            self._keep(node.slot, rows, self.floats_at(node.size, at), False)
            at = at + node.size
        else:
            at = at + node.size
        self._set(rows, self.clamp(at))

    def _set(self, rows: Ints | None, at: Ints) -> None:
        if rows is None:
            self.pos = at
        else:
            self.pos[rows] = at

    def _keep(self, slot: int, rows: Ints | None, value: Any, span: bool) -> None:
        if slot >= 0:
            self.found[slot][slice(None) if rows is None else rows] = True
            self.got[slot] = (rows, value, span)

    def column(self, slot: int, ok: Mask) -> Column:
        """The values of ``slot`` at the rows of ``ok`` (each has one: ``found``)."""
        rows, value, span = self.got[slot]
        keep = ok if rows is None else ok[rows]
        if span:
            at, size = value
            return self.texts(at[keep], size[keep])
        if value is None:
            return np.zeros(0, np.int64)
        return np.asarray(value[keep])


def compile_plan(writer: Any, reader: Any, paths: Sequence[Sequence[str]],
                 time_path: Sequence[str]) -> ColumnPlan:
    """The plan of ``writer`` read as ``reader`` (expanded schemas); :class:`NoPlan`."""
    keys = [tuple(p) for p in paths]
    if _type(writer) != "record" or _type(reader) != "record":
        raise NoPlan("not a record")
    present = [_in(reader, key) for key in keys]
    time_slot = keys.index(tuple(time_path)) if tuple(time_path) in keys else -1
    needed = [k for k, p in zip(keys, present, strict=True) if p]
    compiler = _Compiler(needed, -1 if time_slot < 0 or not present[time_slot]
                         else needed.index(keys[time_slot]))
    return ColumnPlan(_Step("record", parts=compiler.fields(writer, reader, ())), present)


def _in(schema: Any, path: tuple[str, ...]) -> bool:
    """Whether ``path`` names a field of the record ``schema``; a union on the way: NoPlan."""
    node = schema
    for part in path:
        kind = _type(node)
        if kind == "union":
            raise NoPlan("a needed path through a union")
        if kind != "record":
            return False
        found = [f["type"] for f in node["fields"] if f["name"] == part]
        if not found:
            return False
        node = found[0]
    return True
