"""Topic values of one wire model written as JSON or as Avro, told apart by their first byte.

A topic streamapp writes in either format (``formats.joined_outcomes``) may hold both after
the setting changed. :class:`ModelValues` reads a value whose first byte is the magic
byte 0 as the Confluent wire format: its writer schema fetched once per id through the
:class:`~.resolver.SchemaResolver` (an outage is waited out there), read by
:class:`~.readers.AvroReader`; anything else is the model's JSON. Either way the result is
validated by the pydantic model. A value that is neither raises :class:`UndecodableValue`
with a reason (the caller skips it); only the resolver's ``RegistryStopped`` (stopped
during an outage) is not about the value.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from streamapp.formats.readers import AvroReader
from streamapp.formats.resolver import SchemaResolver
from streamapp.formats.wire import MAGIC
from streamapp.formats.writers.avro_schemas import json_text_fields

M = TypeVar("M", bound=BaseModel)
NO_REGISTRY = "no_schema_registry"
"""The reason of a wire-format value read without ``schema_registry.url``."""


class UndecodableValue(ValueError):
    """A value that is neither the model's JSON nor a readable wire-format record of it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ModelValues(Generic[M]):
    """Decodes values of ``model``: Avro in the Confluent wire format, else JSON.

    The Avro record is read with its writer schema (any version the registry holds) and
    only the model's fields are kept, so a newer writer's added fields are dropped; fields
    the schema generator writes as JSON text (``Any``) are parsed back. Without a resolver
    (no registry configured) a wire-format value is :data:`NO_REGISTRY`.

    >>> from streamapp.schemas import Label
    >>> ModelValues(Label, None).decode(b'{"event_id":"e","label":1,'
    ...                                  b'"label_time":"2026-01-01T00:00:00Z"}').label
    1
    >>> try:
    ...     ModelValues(Label, None).decode(b"\\x00\\x00\\x00\\x00\\x01\\x02")
    ... except UndecodableValue as exc:
    ...     print(exc.reason)
    no_schema_registry
    """

    def __init__(self, model: type[M], resolver: SchemaResolver | None) -> None:
        self.model = model
        self.resolver = resolver
        self._avro = AvroReader(resolver, None) if resolver is not None else None
        self._fields = frozenset(model.model_fields)
        self._texts = json_text_fields(model)

    def decode(self, value: bytes | None) -> M:
        """The model instance of ``value``; :class:`UndecodableValue` when it is neither."""
        if value and value[0] == MAGIC:
            return self._wire(value)
        try:
            return self.model.model_validate_json(value or b"")
        except ValidationError as exc:
            json_error = any(e["type"] == "json_invalid" for e in exc.errors())
            raise UndecodableValue("invalid_json" if json_error else "schema_violation",
                                   _brief(exc)) from None

    def _wire(self, value: bytes) -> M:
        if self._avro is None:
            raise UndecodableValue(NO_REGISTRY, "a wire-format value and no schema_registry.url")
        (record,) = self._avro.read([value])
        if isinstance(record, tuple):
            reason, detail = record
            raise UndecodableValue(reason.value, detail)
        fields: dict[str, Any] = {k: v for k, v in record.items() if k in self._fields}
        try:
            for name in self._texts & fields.keys():
                if isinstance(fields[name], str):
                    fields[name] = orjson.loads(fields[name])
            return self.model.model_validate(fields)
        except (ValidationError, orjson.JSONDecodeError) as exc:
            raise UndecodableValue("schema_violation", _brief(exc)) from None


def _brief(exc: Exception) -> str:
    """An error's message on one line, at most 200 characters."""
    return " ".join(str(exc).split())[:200]
