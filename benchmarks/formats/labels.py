"""The monitor's label decode stage per labels format: JSON label envelope vs Avro vs
Protobuf vs JSON Schema (``python -m benchmarks.formats.run --labels``).

What the join data plane runs per partition batch (:mod:`streamapp.monitoring.dataplane`):
``decode_batch(records, decode_label, …)`` for JSON, :class:`RegistryLabels` (the
events' readers through the resolver, the label fields, a ``LabelRecord`` and its JSON
bytes for the store) for the registry formats. Same labels, batches of 512, schemas
resolved through confluent-kafka's in-memory registry client after the first batch.
Offline: no broker, no join.
"""

from __future__ import annotations

import base64
import io
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import orjson
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from prometheus_client import CollectorRegistry

from streamapp.formats.mapping.labels import LabelFields, LabelFormat
from streamapp.formats.mapping.topic import RegistryFormat
from streamapp.formats.readers import AvroReader, JsonSchemaReader, ProtobufReader, RecordReader
from streamapp.formats.resolver import SchemaResolver
from streamapp.metrics.formats import FormatMetrics
from streamapp.monitoring.dataplane.label_format import RegistryLabels
from streamapp.monitoring.dataplane.records import (
    Decoded,
    LabelRecord,
    RawRecord,
    decode_batch,
    decode_label,
)
from streamapp.settings.formats import FormatSettings

BATCH = 512
MAX_BYTES = 65536
Rows = list[tuple[str, int, datetime]]


def _header(sid: int) -> bytes:
    return b"\x00" + struct.pack(">I", sid)


def rows(n: int) -> Rows:
    """``n`` labels: event id, class, label time."""
    start = datetime(2026, 12, 7, tzinfo=UTC)
    return [(f"e-{i}", i % 2, start + timedelta(milliseconds=i)) for i in range(n)]


def json_values(labels: Rows) -> list[bytes]:
    return [orjson.dumps({"event_id": e, "label": y, "label_time": t}) for e, y, t in labels]


def avro_values(client: MockSchemaRegistryClient, labels: Rows) -> list[bytes]:
    schema = {"type": "record", "name": "Label", "fields": [
        {"name": "event_id", "type": "string"}, {"name": "label", "type": "int"},
        {"name": "label_time", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}
    sid = client.register_schema("labels-value", Schema(orjson.dumps(schema).decode(), "AVRO"))
    parsed = fastavro.parse_schema(schema)
    out = []
    for e, y, t in labels:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, {"event_id": e, "label": y, "label_time": t})
        out.append(_header(sid) + buf.getvalue())
    return out


def protobuf_values(client: MockSchemaRegistryClient, labels: Rows) -> list[bytes]:
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="l.proto", package="b", syntax="proto3")
    msg = file.message_type.add(name="Label")
    msg.field.add(name="event_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    msg.field.add(name="label", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    msg.field.add(name="label_time", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    sid = client.register_schema("lp-value", Schema(
        base64.b64encode(file.SerializeToString()).decode(), "PROTOBUF"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("b.Label"))
    return [_header(sid) + b"\x00" + cls(event_id=e, label=y, label_time=t.isoformat())
            .SerializeToString() for e, y, t in labels]


def json_schema_values(client: MockSchemaRegistryClient, labels: Rows) -> list[bytes]:
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "required": ["event_id", "label"],
              "properties": {"event_id": {"type": "string"}, "label": {"type": "integer"},
                             "label_time": {"type": "string"}}}
    sid = client.register_schema("lj-value", Schema(orjson.dumps(schema).decode(), "JSON"))
    return [_header(sid) + v for v in json_values(labels)]


def measure(decode: Callable[[list[RawRecord]], Decoded[LabelRecord]], values: list[bytes],
            repeat: int) -> float:
    """Best-of-``repeat`` seconds to decode every value in batches of :data:`BATCH`."""
    records = [RawRecord(i, f"e-{i}".encode(), v) for i, v in enumerate(values)]
    batches = [records[i:i + BATCH] for i in range(0, len(records), BATCH)]
    decode(batches[0])  # warm: schemas resolved once
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for batch in batches:
            out = decode(batch)
            assert not out.rejected and len(out.items) == len(batch), out.rejected[:1]
        best = min(best, time.perf_counter() - started)
    return best


def run(n: int, repeat: int) -> list[dict[str, Any]]:
    """One result row per labels format."""
    labels = rows(n)
    client = MockSchemaRegistryClient({"url": "mock://labels"})
    metrics = FormatMetrics(CollectorRegistry())
    resolver = SchemaResolver(client, metrics)
    settings = FormatSettings()
    readers: dict[str, tuple[RecordReader, list[bytes]]] = {
        "avro": (AvroReader(resolver, "labels-value"), avro_values(client, labels)),
        "protobuf": (ProtobufReader(resolver), protobuf_values(client, labels)),
        "json_schema": (JsonSchemaReader(resolver), json_schema_values(client, labels)),
    }
    cases: dict[str, tuple[Callable[[list[RawRecord]], Decoded[LabelRecord]], list[bytes]]] = {
        "json (label envelope)": (lambda b: decode_batch(b, decode_label, MAX_BYTES),
                                  json_values(labels)),
    }
    for name, (reader, values) in readers.items():
        fmt = LabelFormat(RegistryFormat(reader, settings, metrics, resolver), LabelFields())
        cases[name] = (RegistryLabels(fmt, MAX_BYTES).decode, values)
    results = []
    for name, (decode, values) in cases.items():
        seconds = measure(decode, values, repeat)
        results.append({
            "format": name, "labels": len(values),
            "bytes_per_label": round(sum(map(len, values)) / len(values), 1),
            "labels_per_s": round(len(values) / seconds),
            "us_per_label": round(seconds / len(values) * 1e6, 2),
        })
    return results
