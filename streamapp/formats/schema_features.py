"""A registered schema → the model features its records carry (``models register --schema``).

Avro: ``int`` / ``long`` / ``float`` / ``double`` are numeric, ``boolean`` is a boolean,
``string`` is categorical (categories from the reference data), an ``enum`` is
categorical with its symbols; nullable unions count as their type; nested records are
walked to dotted paths (``customer.age``). JSON Schema (simple ones): ``number`` /
``integer``, ``boolean``, ``string`` (with ``enum``: its values) and nested ``object``
properties, the same way. Anything else (arrays, maps, bytes, logical types such as
timestamps, unions of several types) is not a feature: it is listed as skipped, as are
the envelope fields (event id, event time, ``model``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

NUMERIC = ("int", "long", "float", "double")


class SchemaFeatureError(ValueError):
    """The schema is not a record (Avro) or an object (JSON Schema) with fields."""


@dataclass(frozen=True)
class SchemaField:
    """One scalar field of the schema: its dotted path, kind and (enum) categories."""

    path: str
    kind: str
    """``numeric``, ``categorical`` or ``boolean``."""
    categories: tuple[Any, ...] | None = None


def schema_fields(
    schema_type: str, text: str, envelope: Collection[str] = ()
) -> tuple[list[SchemaField], list[str]]:
    """(features in schema order, ``"path (why)"`` of each field that is not one); raises
    :class:`SchemaFeatureError` for a schema that is no record, or a type without a reader.

    >>> fields, skipped = schema_fields("AVRO", '{"type": "record", "name": "E", "fields": ['
    ...     '{"name": "id", "type": "string"}, {"name": "c", "type": {"type": "record", '
    ...     '"name": "C", "fields": [{"name": "age", "type": ["null", "int"]}]}}, '
    ...     '{"name": "tags", "type": {"type": "array", "items": "string"}}]}', ["id"])
    >>> [(f.path, f.kind) for f in fields], skipped
    ([('c.age', 'numeric')], ['tags (array)'])
    """
    document = orjson.loads(text)
    kind = schema_type.upper()
    out: tuple[list[SchemaField], list[str]] = ([], [])
    if kind == "AVRO":
        if not (isinstance(document, dict) and document.get("type") == "record"):
            raise SchemaFeatureError("the Avro schema is not a record")
        _avro_record(document, "", set(envelope), {}, out)
    elif kind == "JSON":
        if not (isinstance(document, dict) and isinstance(document.get("properties"), dict)):
            raise SchemaFeatureError("the JSON Schema is not an object with properties")
        _json_object(document, "", set(envelope), out)
    else:
        raise SchemaFeatureError(f"{kind} schemas are not read for features (Avro, JSON Schema)")
    return out


def _avro_record(record: Mapping[str, Any], prefix: str, envelope: set[str],
                 named: dict[str, Any], out: tuple[list[SchemaField], list[str]]) -> None:
    named[record.get("name", "")] = record
    for field in record.get("fields", []):
        path = prefix + field["name"]
        if path in envelope:
            continue
        kind = field["type"]
        if isinstance(kind, list):
            types = [t for t in kind if t != "null"]
            if len(types) != 1:
                out[1].append(f"{path} (union)")
                continue
            kind = types[0]
        if isinstance(kind, str) and kind in named:
            kind = named[kind]
        name = kind if isinstance(kind, str) else kind.get("type")
        if isinstance(kind, dict) and "logicalType" in kind:
            out[1].append(f"{path} ({kind['logicalType']})")
        elif name == "record":
            _avro_record(kind, path + ".", envelope, named, out)
        elif name == "enum":
            named[kind.get("name", "")] = kind
            out[0].append(SchemaField(path, "categorical", tuple(kind["symbols"])))
        elif name in NUMERIC:
            out[0].append(SchemaField(path, "numeric"))
        elif name == "boolean":
            out[0].append(SchemaField(path, "boolean", (False, True)))
        elif name == "string":
            out[0].append(SchemaField(path, "categorical"))
        else:
            out[1].append(f"{path} ({name})")


def _json_object(node: Mapping[str, Any], prefix: str, envelope: set[str],
                 out: tuple[list[SchemaField], list[str]]) -> None:
    for name, spec in node.get("properties", {}).items():
        path = prefix + name
        if path in envelope or not isinstance(spec, dict):
            continue
        declared = spec.get("type")
        types = [t for t in (declared if isinstance(declared, list) else [declared])
                 if t != "null"]
        kind = types[0] if len(types) == 1 else None
        if "enum" in spec and kind in ("string", "integer", None):
            out[0].append(SchemaField(path, "categorical",
                                      tuple(v for v in spec["enum"] if v is not None)))
        elif kind == "object":
            _json_object(spec, path + ".", envelope, out)
        elif kind in ("number", "integer"):
            out[0].append(SchemaField(path, "numeric"))
        elif kind == "boolean":
            out[0].append(SchemaField(path, "boolean", (False, True)))
        elif kind == "string" and "format" not in spec:
            out[0].append(SchemaField(path, "categorical"))
        else:
            out[1].append(f"{path} ({spec.get('format') or kind or 'no single type'})")
