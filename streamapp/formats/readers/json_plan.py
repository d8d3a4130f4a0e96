"""JSON Schema records validated and read by one typed ``msgspec`` decode per batch.

:class:`JsonPlan` turns a JSON Schema that uses only the common keywords (``type``,
``properties``, ``required``, ``additionalProperties`` as a boolean, annotations such as
``title`` or ``format``, which the validator does not assert) into a struct type: decoding
a record into it checks exactly what the schema asks, in C. The model's paths are then
read from the structs by attribute (a path the schema does not declare, where it allows
other properties, is kept as an unchecked field). A schema with any other keyword gets no
plan, and a
record the struct refuses goes to the per-record validator (``jsonschema``), which names
the reason: the struct is at least as strict as the schema, never more lenient.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count
from operator import attrgetter
from types import NoneType
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
from msgspec import UNSET, UnsetType

from streamapp.formats.readers.wire_batch import NoPlan

_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default",
                          "examples", "format", "deprecated", "readOnly", "writeOnly"})
_OBJECT = _ANNOTATIONS | {"type", "properties", "required", "additionalProperties"}
_SCALARS: dict[str, Any] = {"string": str, "number": int | float, "integer": int,
                            "boolean": bool, "null": type(None)}
_CLOSED = "\x00closed"
"""The key of an object's fields that says whether it forbids other properties."""


class JsonPlan:
    """A struct decoder for one schema and an attribute getter per needed path."""

    def __init__(self, schema: dict[str, Any], paths: Sequence[Sequence[str]]) -> None:
        self._names = count()
        self.root, self.fields = self._type(schema, [tuple(p) for p in paths])
        if not isinstance(self.root, type) or not issubclass(self.root, msgspec.Struct):
            raise NoPlan("the record is not an object with properties")
        self.decoder = msgspec.json.Decoder(self.root)
        self.attrs: list[str | None] = [self._attr(p) for p in paths]
        """The dotted struct attribute of each path; None when no record can hold it."""

    def _type(self, schema: Any, needs: list[tuple[str, ...]]) -> tuple[Any, dict[str, Any]]:
        """The msgspec type checking ``schema`` and, for an object, its fields' paths;
        ``needs``: the paths read below this node (an undeclared one is kept unchecked)."""
        if not isinstance(schema, dict):
            raise NoPlan("a boolean schema")
        kinds = schema.get("type")
        if kinds == "object" or (kinds is None and "properties" in schema):
            if set(schema) - _OBJECT:
                raise NoPlan(f"keywords {sorted(set(schema) - _OBJECT)}")
            return self._object(schema, needs)
        if set(schema) - _ANNOTATIONS - {"type"}:
            raise NoPlan(f"keywords {sorted(set(schema) - _ANNOTATIONS - {'type'})}")
        names: list[Any] = kinds if isinstance(kinds, list) else [kinds]
        if not names or any(not isinstance(k, str) or k not in _SCALARS for k in names):
            raise NoPlan(f"type {kinds}")
        found: Any = None
        for k in names:
            found = _SCALARS[k] if found is None else found | _SCALARS[k]
        return found, {}

    def _object(self, schema: dict[str, Any], needs: list[tuple[str, ...]]
                ) -> tuple[Any, dict[str, Any]]:
        extra = schema.get("additionalProperties", True)
        if not isinstance(extra, bool) or not isinstance(schema.get("properties", {}), dict):
            raise NoPlan("additionalProperties with a schema")
        required = set(schema.get("required", []))
        props: dict[str, Any] = schema.get("properties", {})
        if not required <= set(props):
            raise NoPlan("a required name without a property")
        undeclared = [p for p in needs if p and p[0] not in props]
        if any(len(p) > 1 for p in undeclared):
            raise NoPlan("a path below an undeclared property")
        if not props and not undeclared:
            if not extra:
                raise NoPlan("an object that allows no property")
            return dict[str, Any], {}
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        inner: dict[str, Any] = {}
        for i, (name, sub) in enumerate(props.items()):
            kind, nested = self._type(sub, [p[1:] for p in needs if p and p[0] == name])
            inner[name] = (f"f{i}", nested)
            fields.append((f"f{i}", kind) if name in required else
                          (f"f{i}", kind | UnsetType, UNSET))
        for j, name in enumerate(dict.fromkeys(p[0] for p in undeclared) if extra else (),
                                 start=len(props)):
            inner[name] = (f"f{j}", {})  # an additional property: any value is valid
            fields.append((f"f{j}", Any, UNSET))
        fields.sort(key=lambda f: len(f) == 3)  # required fields first
        struct = msgspec.defstruct(f"JsonRecord{next(self._names)}", fields,
                                   rename={a: n for n, (a, _x) in inner.items()},
                                   forbid_unknown_fields=not extra, gc=False)
        return struct, {_CLOSED: not extra, **inner}

    def _attr(self, path: Sequence[str]) -> str | None:
        """The struct attributes of ``path``; None when no record can hold it."""
        fields, attrs = self.fields, []
        for part in path:
            if part not in fields or part == _CLOSED:
                if fields.get(_CLOSED, False):  # additionalProperties: false
                    return None
                raise NoPlan(f"{'.'.join(path)} is not under an object's properties")
            attr, fields = fields[part]
            attrs.append(attr)
        if fields:
            raise NoPlan(f"{'.'.join(path)} is an object")
        return ".".join(attrs)


def columns(plan: JsonPlan, structs: list[Any]
            ) -> tuple[list[bool], list[list[Any] | npt.NDArray[Any] | None]]:
    """Per path its values in ``structs`` (None: no record holds it; a numpy array when all
    are floats, or all integers) and the rows that hold a value at every path some record
    holds (an unset or null one: the per-record path)."""
    ok = [True] * len(structs)
    out: list[list[Any] | npt.NDArray[Any] | None] = []
    for values in _read(plan, structs):
        if values is None:
            out.append(None)
            continue
        kinds = set(map(type, values))
        if UnsetType in kinds or NoneType in kinds:
            held = [v is not UNSET and v is not None for v in values]
            if not any(held):  # no record has it, as when the schema forbids it
                out.append(None)
                continue
            ok = [a and h for a, h in zip(ok, held, strict=True)]
        out.append(_array(values, kinds))
    return ok, out


def _array(values: list[Any], kinds: set[type]) -> list[Any] | npt.NDArray[Any]:
    """``values`` as a float64 or int64 array when all are of that one type."""
    if kinds == {float}:
        return np.array(values, np.float64)
    if kinds == {int}:
        try:
            return np.array(values, np.int64)
        except OverflowError:  # past 64 bits: kept as Python integers
            pass
    return values


def _read(plan: JsonPlan, structs: list[Any]) -> list[list[Any] | None]:
    """Each path's values in ``structs``: one C-level call per struct for all of them."""
    attrs = [a for a in plan.attrs if a is not None]
    if attrs and structs:
        try:
            rows = list(map(attrgetter(*attrs), structs))
        except AttributeError:  # an unset object on the way: one path at a time
            pass
        else:
            found = iter(zip(*rows, strict=True) if len(attrs) > 1 else [rows])
            return [None if a is None else list(next(found)) for a in plan.attrs]
    return [None if a is None else [_get(attrgetter(a), s) for s in structs]
            for a in plan.attrs]


def _get(getter: attrgetter[Any], struct: Any) -> Any:
    try:
        return getter(struct)
    except AttributeError:
        return UNSET
