"""Records → Confluent wire-format values, through confluent-kafka's own serializers.

:func:`value_encoder` resolves the value schema of a topic once: the latest version of
its subject ``<topic>-value`` (TopicNameStrategy), or a schema file (``.avsc`` Avro,
``.json`` JSON Schema) registered there first. :class:`ValueEncoder` then writes each
record with ``AvroSerializer`` / ``JSONSerializer`` / ``ProtobufSerializer`` under that
schema id. A record that does not fit the schema raises :class:`RecordMismatch` (the
caller counts it and goes on); a schema that cannot be had (no version, the registry
rejects the file or does not answer) raises :class:`SchemaUnavailable` before any
record is written. Protobuf uses the latest registered schema only: records are
written as its file's first top-level message that no other message of the file holds
(fields by name, as ``json_format`` parses them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka.schema_registry import RegisteredSchema, Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import json_format, message_factory
from prometheus_client import CollectorRegistry

from streamapp.formats.readers import ProtobufReader
from streamapp.formats.resolver import SchemaResolver
from streamapp.metrics.formats import FormatMetrics
from streamapp.settings.formats import SchemaRegistrySettings

REGISTRY_FORMATS = ("avro", "protobuf", "json_schema")
"""The formats written through a Schema Registry (``json`` is written as it is)."""
SCHEMA_TYPES = {"avro": "AVRO", "protobuf": "PROTOBUF", "json_schema": "JSON"}
_TIMESTAMPS = ("timestamp-millis", "timestamp-micros", "local-timestamp-millis",
               "local-timestamp-micros")


class RecordMismatch(ValueError):
    """One record does not fit the value schema; the message names the field."""


class SchemaUnavailable(RuntimeError):
    """No value schema to write with: none registered, or the registry rejected the file."""


class RegistryUnreachable(SchemaUnavailable):
    """The Schema Registry did not answer (connection refused, timeout, HTTP 5xx)."""


@dataclass(frozen=True)
class ValueEncoder:
    """Writes records as one registered schema of ``subject``."""

    format: str
    subject: str
    schema_id: int
    version: int
    serialize: Callable[[Any], bytes]
    text_fields: tuple[str, ...] = ()
    """Top-level fields the schema holds as text (read CSV columns as text: ``007``)."""

    def encode(self, record: Any) -> bytes:
        """The wire-format value of ``record``; raises :class:`RecordMismatch`."""
        if not isinstance(record, dict):
            raise RecordMismatch(f"a {type(record).__name__}, not an object")
        try:
            return self.serialize(record)
        except RecordMismatch:
            raise
        except SchemaRegistryError as exc:  # the id was resolved already: an outage now
            raise RegistryUnreachable(f"schema registry: {exc}") from None
        except Exception as exc:  # fastavro, jsonschema, protobuf each raise their own kinds
            if type(exc).__module__.startswith(("httpx", "httpcore")):  # the registry's client
                raise RegistryUnreachable(f"schema registry unreachable: {_detail(exc)}"
                                          ) from None
            raise RecordMismatch(_detail(exc)) from None


def _detail(exc: BaseException) -> str:
    """The innermost message of a serializer error, on one line (a JSON Schema violation as
    ``path: message``)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        inner = exc.__cause__ or exc.__context__
        assert inner is not None
        if str(inner):
            exc = inner
        else:
            break
    message = getattr(exc, "message", None)
    if isinstance(message, str) and hasattr(exc, "absolute_path"):
        message = f"{'/'.join(map(str, exc.absolute_path)) or '(root)'}: {message}"
    return " ".join((message or str(exc)).split())[:300] or type(exc).__name__


def value_encoder(fmt: str, topic: str, registry: SchemaRegistrySettings,
                  schema_file: Path | None = None) -> ValueEncoder:
    """The encoder of ``topic``'s values in ``fmt``; raises :class:`SchemaUnavailable`, or
    ``ConfigError`` (naming ``STREAMAPP_SCHEMA_REGISTRY__URL``) without a registry URL."""
    if fmt not in REGISTRY_FORMATS:
        raise ValueError(f"{fmt!r} is not a registry format ({', '.join(REGISTRY_FORMATS)})")
    client = SchemaRegistryClient(registry.client_conf())
    subject = f"{topic}-value"
    registered = _schema(client, subject, fmt, schema_file)
    found = (registered.schema.schema_type or "AVRO").upper()
    sid = registered.schema_id
    if found != SCHEMA_TYPES[fmt] or sid is None:
        raise SchemaUnavailable(
            f"subject {subject} holds a {found} schema (id {sid}), not "
            f"{SCHEMA_TYPES[fmt]}: pick --format accordingly")
    conf = {"auto.register.schemas": False, "use.schema.id": sid}
    text = registered.schema.schema_str or ""
    ctx = SerializationContext(topic, MessageField.VALUE)
    write: Callable[[Any], bytes]
    texts: list[str] = []
    if fmt == "avro":
        write = partial(AvroSerializer(client, text, to_dict=_avro_dict(text), conf=conf),
                        ctx=ctx)
        texts = avro_text_fields(orjson.loads(text))
    elif fmt == "json_schema":
        write = partial(JSONSerializer(text, client, to_dict=lambda r, _c: _plain_json(r),
                                       conf=conf), ctx=ctx)
        texts = json_text_fields(orjson.loads(text))
    else:
        try:
            write, texts = _protobuf_writer(client, subject, sid, ctx)
        except SchemaUnavailable:
            raise
        except Exception as exc:  # unreadable descriptor, or the registry went away
            raise SchemaUnavailable(f"{subject}: schema id {sid} cannot be used: "
                                    f"{_detail(exc)}") from None
    return ValueEncoder(fmt, subject, sid, registered.version or 0, write, tuple(texts))


def _schema(client: SchemaRegistryClient, subject: str, fmt: str,
            schema_file: Path | None) -> RegisteredSchema:
    """The subject's latest version, after registering ``schema_file`` when given."""
    try:
        if schema_file is not None:
            if fmt == "protobuf":
                raise SchemaUnavailable(
                    "--schema is for avro (.avsc) and json_schema (.json); protobuf writes "
                    f"with the latest schema registered under {subject}")
            try:
                text = schema_file.read_text()
            except OSError as exc:
                raise SchemaUnavailable(f"--schema {schema_file}: {exc.strerror}") from None
            client.register_schema(subject, Schema(text, SCHEMA_TYPES[fmt]))
        latest = client.get_latest_version(subject)
        if fmt != "protobuf" and latest.schema_id is not None:
            # What the serializer asks on its first record, asked now (then cached): a
            # registry in trouble fails the command before any record is sent.
            client.get_schema(latest.schema_id, subject_name=subject)
        return latest
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404 and schema_file is None:
            raise SchemaUnavailable(
                f"no schema registered under {subject}: register one, or pass --schema FILE"
            ) from None
        if 400 <= exc.http_status_code < 500:
            raise SchemaUnavailable(
                f"the registry rejected the schema for {subject} (HTTP "
                f"{exc.http_status_code}): {exc.error_message}") from None
        raise RegistryUnreachable(f"schema registry unreachable: {exc}") from None
    except SchemaUnavailable:
        raise
    except Exception as exc:  # connection refused, timeout, TLS
        raise RegistryUnreachable(
            f"schema registry unreachable: {type(exc).__name__}: {_detail(exc)}") from None


def _plain_json(record: Any) -> Any:
    """``record`` as JSON values: timestamps as RFC 3339 text, as a JSON file would hold."""
    return orjson.loads(orjson.dumps(record, default=_rfc3339))


def _rfc3339(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def timestamp_fields(schema: Any) -> list[str]:
    """Top-level fields of an Avro record schema holding a timestamp (nullable or not).

    >>> timestamp_fields({"type": "record", "name": "E", "fields": [
    ...     {"name": "t", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
    ...     {"name": "x", "type": "double"}]})
    ['t']
    """
    out = []
    for field in schema.get("fields", []) if isinstance(schema, dict) else []:
        kinds = field["type"] if isinstance(field["type"], list) else [field["type"]]
        if any(isinstance(k, dict) and k.get("logicalType") in _TIMESTAMPS for k in kinds):
            out.append(field["name"])
    return out


def avro_text_fields(schema: Any) -> list[str]:
    """Top-level fields of an Avro record schema holding strings or enum symbols.

    >>> avro_text_fields({"type": "record", "name": "E", "fields": [
    ...     {"name": "id", "type": ["null", "string"]}, {"name": "x", "type": "double"},
    ...     {"name": "c", "type": {"type": "enum", "name": "C", "symbols": ["a"]}}]})
    ['id', 'c']
    """
    out = []
    for field in schema.get("fields", []) if isinstance(schema, dict) else []:
        kinds = field["type"] if isinstance(field["type"], list) else [field["type"]]
        for kind in kinds:
            name = kind.get("type") if isinstance(kind, dict) else kind
            if name in ("string", "enum") and not (
                    isinstance(kind, dict) and "logicalType" in kind):
                out.append(field["name"])
                break
    return out


def json_text_fields(schema: Any) -> list[str]:
    """Top-level properties of a JSON Schema typed ``string`` (date-times excluded).

    >>> json_text_fields({"type": "object", "properties": {"id": {"type": "string"},
    ...     "t": {"type": "string", "format": "date-time"}, "x": {"type": "number"}}})
    ['id']
    """
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    return [
        name for name, spec in props.items()
        if isinstance(spec, dict) and "string" in _as_list(spec.get("type"))
        and spec.get("format") not in ("date-time", "date")
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _avro_dict(text: str) -> Callable[[Any, Any], dict[str, Any]]:
    """The Avro ``to_dict``: RFC 3339 text in timestamp fields (JSONL, CSV) → datetimes."""
    times = timestamp_fields(orjson.loads(text))

    def to_dict(record: Any, _ctx: Any) -> dict[str, Any]:
        out = dict(record)
        for name in times:
            value = out.get(name)
            if isinstance(value, str):
                try:
                    out[name] = datetime.fromisoformat(value)
                except ValueError:
                    raise RecordMismatch(
                        f"field {name!r}: {value[:40]!r} is not an RFC 3339 time") from None
        return out

    return to_dict


def root_message(messages: list[Any]) -> Any:
    """The record's message type among a file's top-level ``messages``: the first that no
    other of them holds as a field (``Event`` before the ``Customer`` it holds)."""
    held = {f.message_type.full_name for m in messages for f in m.fields
            if f.message_type is not None and f.message_type is not m}
    return next((m for m in messages if m.full_name not in held), messages[0])


def _protobuf_writer(client: SchemaRegistryClient, subject: str, sid: int,
                     ctx: SerializationContext
                     ) -> tuple[Callable[[Any], bytes], list[str]]:
    """Records → the registered file's record message (:func:`root_message`), serialized."""
    stopped = threading.Event()
    stopped.set()  # one attempt: an outage fails the command instead of waiting
    resolver = SchemaResolver(client, FormatMetrics(CollectorRegistry()), stop=stopped)
    reader = ProtobufReader(resolver)
    file = resolver.build("protobuf", sid, reader._file)
    if not file.message_types_by_name:
        raise SchemaUnavailable(f"{subject}: the Protobuf schema has no message")
    desc = root_message(list(file.message_types_by_name.values()))
    cls = message_factory.GetMessageClass(desc)
    # By content, not ``use.schema.id``: that asks for ``format=serialized``, which a registry
    # holding the serialized descriptor itself (Apicurio) cannot render.
    proto = ProtobufSerializer(cls, client, {"auto.register.schemas": False,
                                             "use.deprecated.format": False})

    def write(record: Any) -> bytes:
        try:
            msg = json_format.ParseDict(_plain_json(record), cls(),
                                        ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise RecordMismatch(_detail(exc)) from None
        return bytes(proto(msg, ctx) or b"")

    texts = [f.name for f in desc.fields if f.type in (f.TYPE_STRING, f.TYPE_ENUM)
             and f.label != f.LABEL_REPEATED]
    return write, texts
