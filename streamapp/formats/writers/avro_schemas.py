"""Avro record schemas generated from the pydantic wire models (:mod:`streamapp.schemas`).

One source of truth: a wire model's fields, in order, become an Avro record's fields.
The mapping (docs/formats.md, "Output formats"):

- ``str`` → ``string``; ``int`` → ``long``; ``float`` → ``double``; ``bool`` → ``boolean``
- an aware datetime → ``long`` with logicalType ``timestamp-micros`` (UTC)
- an enum or a ``Literal`` → ``string`` (a new value never breaks an existing reader)
- ``list[T]`` → ``array``; ``dict[str, T]`` → ``map``; a nested model → a nested record
- ``T | None`` → ``["null", T]``; a field with a default ``None`` gets ``"default": null``
  (and ``null`` first); other defaults are written when they are Avro values
- a union of scalars → an Avro union, most specific branch first (``boolean``, ``long``,
  ``double``, ``string``) so that a ``bool`` or an ``int`` is never written as another branch
- anything holding ``Any`` → ``string``: the value's JSON text (:func:`json_text_fields`
  names those fields, for whoever builds a datum from a model)

An annotation it cannot map raises :class:`TypeError` naming the model and field.
"""

from __future__ import annotations

import enum
import types
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

AvroType = str | dict[str, Any] | list[Any]

_SCALARS: dict[type, str] = {bool: "boolean", int: "long", float: "double", str: "string"}
_ORDER = ("boolean", "long", "double", "string")
"""Union branches, most specific first: fastavro writes the first branch that fits."""
TIMESTAMP: dict[str, str] = {"type": "long", "logicalType": "timestamp-micros"}
NAMESPACE = "streamapp"


def avro_schema(model: type[BaseModel], namespace: str = NAMESPACE) -> dict[str, Any]:
    """The Avro record schema of ``model`` (fields in declaration order).

    >>> from streamapp.schemas import Label
    >>> s = avro_schema(Label)
    >>> s["name"], [f["name"] for f in s["fields"]]
    ('Label', ['event_id', 'label', 'label_time', 'model_name'])
    >>> s["fields"][1]["type"], s["fields"][3]["type"], s["fields"][3]["default"]
    (['boolean', 'long', 'double', 'string'], ['null', 'string'], None)
    """
    return _record(model, namespace, set())


def json_text_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` written as JSON text (their type holds ``Any``).

    >>> from streamapp.schemas import RetrainRequest
    >>> sorted(json_text_fields(RetrainRequest))
    ['evidence']
    """
    return frozenset(n for n, f in model.model_fields.items() if _holds_any(f.annotation))


def _record(model: type[BaseModel], namespace: str, seen: set[str]) -> dict[str, Any]:
    name = model.__name__
    if name in seen:
        raise TypeError(f"{name}: recursive wire models are not mapped to Avro")
    seen = seen | {name}
    fields = [_field(model, fname, info, namespace, seen)
              for fname, info in model.model_fields.items()]
    schema: dict[str, Any] = {"type": "record", "name": name, "namespace": namespace}
    doc = (model.__doc__ or "").strip().split("\n\n")[0]
    if doc:
        schema["doc"] = " ".join(doc.split())
    schema["fields"] = fields
    return schema


def _field(model: type[BaseModel], name: str, info: FieldInfo, namespace: str,
           seen: set[str]) -> dict[str, Any]:
    try:
        avro = _type(info.annotation, namespace, seen)
    except TypeError as exc:
        raise TypeError(f"{model.__name__}.{name}: {exc}") from None
    out: dict[str, Any] = {"name": name, "type": avro}
    if info.description:
        out["doc"] = info.description
    if not info.is_required() and info.default_factory is None:
        default = info.default
        if default is None:
            if isinstance(avro, list) and avro[0] == "null":
                out["default"] = None
        elif isinstance(default, enum.Enum):
            out["default"] = default.value
        elif isinstance(default, bool | int | float | str):
            out["default"] = default
    elif info.default_factory in (list, dict):  # [] / {}, or their JSON text
        empty: object = info.default_factory()
        out["default"] = orjson.dumps(empty).decode() if avro == "string" else empty
    return out


def _type(annotation: Any, namespace: str, seen: set[str]) -> AvroType:
    """The Avro type of one annotation."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _type(get_args(annotation)[0], namespace, seen)
    if _holds_any(annotation):
        return ["null", "string"] if _optional(annotation) else "string"
    if origin in (Union, types.UnionType):
        return _union(get_args(annotation), namespace, seen)
    if origin is Literal:
        return "string"
    if origin is list:
        return {"type": "array", "items": _type(get_args(annotation)[0], namespace, seen)}
    if origin is dict:
        key, value = get_args(annotation)
        if key is not str:
            raise TypeError(f"map keys must be str, not {key!r}")
        return {"type": "map", "values": _type(value, namespace, seen)}
    if annotation is AwareDatetime:
        return dict(TIMESTAMP)
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "string"
        if issubclass(annotation, datetime):
            return dict(TIMESTAMP)
        if issubclass(annotation, BaseModel):
            return _record(annotation, namespace, seen)
        for py, avro in _SCALARS.items():  # bool before int: bool is an int
            if issubclass(annotation, py):
                return avro
    raise TypeError(f"no Avro mapping for {annotation!r}")


def _union(members: tuple[Any, ...], namespace: str, seen: set[str]) -> list[Any]:
    """An Avro union: ``null`` first, then scalars most specific first, then the rest."""
    branches: list[Any] = []
    for member in members:
        if member is type(None):
            continue
        avro = _type(member, namespace, seen)
        for branch in avro if isinstance(avro, list) else [avro]:
            if branch not in branches:
                branches.append(branch)
    scalars = sorted((b for b in branches if b in _ORDER), key=_ORDER.index)
    rest = [b for b in branches if b not in _ORDER and b != "null"]
    null = ["null"] if type(None) in members or "null" in branches else []
    return null + scalars + rest


def _optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(
        annotation)


def _holds_any(annotation: Any) -> bool:
    """Whether ``Any`` appears anywhere inside ``annotation``."""
    if annotation is Any:
        return True
    return any(_holds_any(a) for a in get_args(annotation) if not isinstance(a, FieldInfo))
