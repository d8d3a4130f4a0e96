"""Wire-format values → JSON-able records for people to read (``streamapp tail``).

:class:`Peek` recognises a value in the Confluent wire format by its magic byte and
schema id (or expects one, on a topic configured with a registry format), asks the
registry which format the id is, and decodes it with the scoring path's own readers
(:mod:`~.readers`) from its writer schema. A value it cannot decode comes back with the
reason (the dead-letter reason codes, or ``registry_unreachable``), never an exception.
Each registry lookup is tried once: during an outage a record shows why, tail goes on.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from confluent_kafka.schema_registry import SchemaRegistryClient
from google.protobuf import json_format
from google.protobuf.message import Message
from prometheus_client import CollectorRegistry

from streamapp.formats.readers import AvroReader, JsonSchemaReader, ProtobufReader, RecordReader
from streamapp.formats.resolver import RegistryStopped, SchemaResolver, UnknownSchema
from streamapp.formats.wire import NotWireFormat, schema_id
from streamapp.metrics.formats import FormatMetrics

FORMAT_OF_TYPE = {"AVRO": "avro", "PROTOBUF": "protobuf", "JSON": "json_schema"}
NO_REGISTRY = "no schema registry configured (STREAMAPP_SCHEMA_REGISTRY__URL)"


@dataclass(frozen=True)
class Peeked:
    """One decoded value (``record``, JSON text) or why it could not be (``reason``)."""

    label: str
    """``avro schema 12``, or ``undecodable``."""
    record: str | None = None
    reason: str | None = None


class Peek:
    """Decodes registry-format values of one topic; plain JSON is left to the caller."""

    def __init__(self, client: SchemaRegistryClient | None, configured: str = "json") -> None:
        self.configured = configured
        self._resolver: SchemaResolver | None = None
        self._readers: dict[str, RecordReader] = {}
        if client is not None:
            once = threading.Event()
            once.set()  # one attempt per lookup: an outage is a reason, not a wait
            resolver = SchemaResolver(client, FormatMetrics(CollectorRegistry()), stop=once)
            self._resolver = resolver
            self._readers = {"avro": AvroReader(resolver, None),
                             "protobuf": ProtobufReader(resolver),
                             "json_schema": JsonSchemaReader(resolver)}

    def decode(self, value: bytes | None) -> Peeked | None:
        """The value decoded, or why not; None for a plain value on a ``json`` topic."""
        try:
            sid = schema_id(value)
        except NotWireFormat as exc:
            if self.configured == "json":
                return None
            return Peeked("undecodable", reason=f"not_wire_format: {exc}")
        assert value is not None
        if self._resolver is None:
            return Peeked("undecodable", reason=f"schema id {sid}: {NO_REGISTRY}")
        try:
            kind = (self._resolver.schema(sid).schema_type or "AVRO").upper()
            fmt = FORMAT_OF_TYPE.get(kind)
            if fmt is None:
                return Peeked("undecodable", reason=f"schema_mismatch: schema id {sid} is {kind}")
            decoded = self._readers[fmt].read([value])[0]
        except UnknownSchema as exc:
            return Peeked("undecodable",
                          reason=f"unknown_schema: schema id {sid} is not in the registry ({exc})")
        except RegistryStopped:
            return Peeked("undecodable",
                          reason=f"registry_unreachable: schema id {sid} could not be fetched")
        if type(decoded) is tuple:
            return Peeked("undecodable", reason=f"{decoded[0].value}: {decoded[1]}")
        if isinstance(decoded, Message):
            decoded = json_format.MessageToDict(decoded, preserving_proto_field_name=True)
        return Peeked(f"{fmt} schema {sid}", record=to_json(decoded))


def to_json(record: Any) -> str:
    """A decoded record as JSON text: times as RFC 3339, bytes as base64, decimals as text.

    >>> from datetime import UTC
    >>> to_json({"t": datetime(2026, 1, 2, tzinfo=UTC), "b": b"\\x00", "d": Decimal("1.5")})
    '{"t":"2026-01-02T00:00:00+00:00","b":"AA==","d":"1.5"}'
    """
    return orjson.dumps(record, default=_plain).decode()


def _plain(value: object) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(type(value).__name__)
