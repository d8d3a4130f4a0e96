"""Decode-stage throughput per topic format: JSON envelope vs Avro vs Protobuf vs JSON Schema.

The scoring decoder (streamapp.scoring.decode.Decoder) on the same Agrawal events in
batches of 512, schemas resolved through confluent-kafka's in-memory registry client
(after the first batch no registry call is made, as with a real registry). Offline:
no broker, no model call. Prints a Markdown table and writes results.json next to it.

    .venv/bin/python -m benchmarks.formats.run [--events 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import struct
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import orjson
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from prometheus_client import CollectorRegistry

from streamapp.formats.records import AvroReader, JsonSchemaReader, ProtobufReader
from streamapp.formats.resolver import SchemaResolver
from streamapp.formats.topic import RegistryFormat
from streamapp.metrics.formats import FormatMetrics
from streamapp.registry.registry import ModelRegistry
from streamapp.scoring.decode import Decoder
from streamapp.settings.formats import FormatSettings
from streamapp.testing.fakes import InMemoryRecord
from streamapp.training.synthetic import agrawal

HERE = Path(__file__).resolve().parent
MANIFEST = ModelRegistry(HERE.parents[1] / "models").resolve("agrawal-clf").manifest
INTS = ("age", "elevel", "car", "zipcode", "hyears")
BATCH = 512


def _header(sid: int) -> bytes:
    return b"\x00" + struct.pack(">I", sid)


def _rows(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    now = datetime.now(UTC).isoformat()
    return [(f"e{i}", now, x) for i, (x, _y) in enumerate(agrawal(n, 7))]


def json_values(rows: list[tuple[str, str, dict[str, Any]]]) -> list[bytes]:
    return [orjson.dumps({"event_id": i, "event_time": t, "features": x}) for i, t, x in rows]


def avro_values(client: MockSchemaRegistryClient, rows: list[Any]) -> list[bytes]:
    schema = {"type": "record", "name": "E", "fields": [
        {"name": "event_id", "type": "string"}, {"name": "event_time", "type": "string"},
        *({"name": n, "type": "int" if n in INTS else "double"}
          for n in MANIFEST.feature_names)]}
    sid = client.register_schema("events-value", Schema(orjson.dumps(schema).decode(), "AVRO"))
    parsed = fastavro.parse_schema(schema)
    out = []
    for i, t, x in rows:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, {"event_id": i, "event_time": t, **x})
        out.append(_header(sid) + buf.getvalue())
    return out


def protobuf_values(client: MockSchemaRegistryClient, rows: list[Any]) -> list[bytes]:
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="e.proto", package="b", syntax="proto3")
    msg = file.message_type.add(name="E")
    msg.field.add(name="event_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    msg.field.add(name="event_time", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    for k, n in enumerate(MANIFEST.feature_names, start=3):
        msg.field.add(name=n, number=k, type=F.TYPE_INT64 if n in INTS else F.TYPE_DOUBLE,
                      label=F.LABEL_OPTIONAL)
    import base64

    sid = client.register_schema("p-value", Schema(
        base64.b64encode(file.SerializeToString()).decode(), "PROTOBUF"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("b.E"))
    return [_header(sid) + b"\x00" + cls(event_id=i, event_time=t, **x).SerializeToString()
            for i, t, x in rows]


def json_schema_values(client: MockSchemaRegistryClient, rows: list[Any]) -> list[bytes]:
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "properties": {n: {"type": "number"} for n in MANIFEST.feature_names}}
    sid = client.register_schema("j-value", Schema(orjson.dumps(schema).decode(), "JSON"))
    return [_header(sid) + orjson.dumps({"event_id": i, "event_time": t, **x})
            for i, t, x in rows]


def measure(decoder: Decoder, values: list[bytes], repeat: int) -> float:
    """Best-of-``repeat`` seconds to decode every value in batches of :data:`BATCH`."""
    records = [InMemoryRecord("events", 0, i, f"e{i}".encode(), v) for i, v in enumerate(values)]
    batches = [records[i:i + BATCH] for i in range(0, len(records), BATCH)]
    decoder.decode(batches[0])  # warm: schemas resolved once
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for batch in batches:
            out = decoder.decode(batch)
            assert not out.errors, out.errors[:1]
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = _rows(args.events)
    client = MockSchemaRegistryClient({"url": "mock://bench"})
    metrics = FormatMetrics(CollectorRegistry())
    resolver = SchemaResolver(client, metrics)
    settings = FormatSettings()
    cases = {
        "json (envelope)": (None, json_values(rows)),
        "avro": (AvroReader(resolver, "events-value"), avro_values(client, rows)),
        "protobuf": (ProtobufReader(resolver), protobuf_values(client, rows)),
        "json_schema": (JsonSchemaReader(resolver), json_schema_values(client, rows)),
    }
    results = []
    for name, (reader, values) in cases.items():
        fmt = None if reader is None else RegistryFormat(reader, settings, metrics, resolver)
        seconds = measure(Decoder(MANIFEST, 65536, fmt), values, args.repeat)
        results.append({
            "format": name, "events": len(values),
            "bytes_per_event": round(sum(map(len, values)) / len(values), 1),
            "events_per_s": round(len(values) / seconds),
            "us_per_event": round(seconds / len(values) * 1e6, 2),
        })
    print(f"{args.events} Agrawal events, batches of {BATCH}, best of {args.repeat}, "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    print("| format | bytes/event | events/s | µs/event |\n|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['format']} | {r['bytes_per_event']} | {r['events_per_s']:,} | "
              f"{r['us_per_event']} |")
    (HERE / "results.json").write_text(json.dumps(
        {"events": args.events, "batch": BATCH, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
