"""Decode-stage throughput per topic format: JSON envelope vs Avro vs Protobuf vs JSON Schema.

The scoring decoder (streamapp.scoring.decode.Decoder) on the same Agrawal events in
batches of 512, schemas resolved through confluent-kafka's in-memory registry client
(after the first batch no registry call is made, as with a real registry). Offline:
no broker, no model call. The formats take turns in every round (best of the rounds), and
each registry format's stages are timed alone too: decode (wire header, schema lookup,
payload → columns), fields (envelope checks, event times), encode (feature matrix checks
and codes), features JSON (the prediction log's text, for its 20 % sample). Prints a
Markdown table and writes results.json next to it.

    .venv/bin/python -m benchmarks.formats.run [--events 50000] [--repeat 5]
    .venv/bin/python -m benchmarks.formats.run --labels   # the monitor's label decode
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
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

from streamapp.formats.mapping.fields import FieldMap
from streamapp.formats.mapping.topic import RegistryFormat
from streamapp.formats.readers import AvroReader, JsonSchemaReader, ProtobufReader
from streamapp.formats.resolver import SchemaResolver
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
LOG_EVERY = 5
"""The prediction log takes every 5th event's features JSON (``sampling.log_rate``'s default 0.2;
the real sample is a hash of the key, the cost the same)."""


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


def _batches(values: list[bytes]) -> list[list[InMemoryRecord]]:
    records = [InMemoryRecord("events", 0, i, f"e{i}".encode(), v) for i, v in enumerate(values)]
    return [records[i:i + BATCH] for i in range(0, len(records), BATCH)]


def _decode_all(decoder: Decoder, batches: list[list[InMemoryRecord]]) -> None:
    """Decode every batch and take the prediction log's features JSON for its sample."""
    for batch in batches:
        out = decoder.decode(batch)
        assert not out.errors, out.errors[:1]
        out.feature_texts(range(0, len(out), LOG_EVERY))


def _stage_calls(fmt: RegistryFormat, decoder: Decoder, batches: list[list[InMemoryRecord]]
                 ) -> dict[str, Callable[[], None]]:
    """Each stage of the registry-format decode alone, over every batch (inputs prepared)."""
    fields = FieldMap(MANIFEST.feature_names, {}, "event_id", "event_time")
    paths = fields.paths()
    values = [[r.value() for r in b] for b in batches]
    read = [fmt.reader.columns(v, paths, fields.event_time) for v in values]
    found = [fields.columns(rows, cols, b, MANIFEST.name)[0]
             for (rows, cols, _rest), b in zip(read, batches, strict=True)]
    encoder = decoder.encoder

    def decode() -> None:
        for v in values:
            fmt.reader.columns(v, paths, fields.event_time)

    def map_fields() -> None:
        for (rows, cols, _rest), b in zip(read, batches, strict=True):
            fields.columns(rows, cols, b, MANIFEST.name)

    def encode() -> None:
        for f in found:
            matrix, _bad = encoder.encode_values(f.matrix())
            encoder.finish(matrix, list(range(len(matrix))), ())

    def features_json() -> None:
        for f in found:
            f.texts(range(0, len(f.rows), LOG_EVERY))

    return {"decode": decode, "fields": map_fields, "encode": encode,
            "features_json": features_json}


def measure(cases: dict[str, tuple[Decoder, list[bytes]]], repeat: int
            ) -> dict[str, dict[str, float]]:
    """Seconds per format: the whole decode and each stage, best of ``repeat`` rounds; the
    formats take turns within a round, so they share the machine's load alike."""
    calls: dict[str, dict[str, Callable[[], None]]] = {}
    for name, (decoder, values) in cases.items():
        batches = _batches(values)
        _decode_all(decoder, batches[:1])  # warm: schemas resolved once
        calls[name] = {"total": partial(_decode_all, decoder, batches)}
        if isinstance(decoder.payload, RegistryFormat):
            calls[name].update(_stage_calls(decoder.payload, decoder, batches))
    best = {name: dict.fromkeys(stages, float("inf")) for name, stages in calls.items()}
    for _ in range(repeat):
        for name, stages in calls.items():
            for stage, call in stages.items():
                started = time.perf_counter()
                call()
                best[name][stage] = min(best[name][stage], time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--labels", action="store_true",
                        help="the monitor's label decode per labels format (labels.py)")
    args = parser.parse_args()
    if args.labels:
        main_labels(args.events, args.repeat)
        return
    rows = _rows(args.events)
    client = MockSchemaRegistryClient({"url": "mock://bench"})
    metrics = FormatMetrics(CollectorRegistry())
    resolver = SchemaResolver(client, metrics)
    settings = FormatSettings()
    inputs = {
        "json (envelope)": (None, json_values(rows)),
        "avro": (AvroReader(resolver, "events-value"), avro_values(client, rows)),
        "protobuf": (ProtobufReader(resolver), protobuf_values(client, rows)),
        "json_schema": (JsonSchemaReader(resolver), json_schema_values(client, rows)),
    }
    cases = {name: (Decoder(MANIFEST, 65536, None if reader is None else
                            RegistryFormat(reader, settings, metrics, resolver)), values)
             for name, (reader, values) in inputs.items()}
    timings = measure(cases, args.repeat)
    results: list[dict[str, Any]] = []
    for name, (_decoder, values) in cases.items():
        n = len(values)
        seconds = timings[name]["total"]
        results.append({
            "format": name, "events": n,
            "bytes_per_event": round(sum(map(len, values)) / n, 1),
            "events_per_s": round(n / seconds),
            "us_per_event": round(seconds / n * 1e6, 2),
            "us_per_event_by_stage": {stage: round(t / n * 1e6, 2)
                                      for stage, t in timings[name].items() if stage != "total"},
        })
    print(f"{args.events} Agrawal events, batches of {BATCH}, best of {args.repeat} "
          f"interleaved rounds, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}\n")
    print("| format | bytes/event | events/s | µs/event | decode | fields | encode | "
          "features JSON |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        by = r["us_per_event_by_stage"]
        stages = " | ".join(str(by.get(k, "")) for k in ("decode", "fields", "encode",
                                                         "features_json"))
        print(f"| {r['format']} | {r['bytes_per_event']} | {r['events_per_s']:,} | "
              f"{r['us_per_event']} | {stages} |")
    (HERE / "results.json").write_text(json.dumps(
        {"events": args.events, "batch": BATCH, "repeat": args.repeat, "results": results},
        indent=2) + "\n")


def main_labels(n: int, repeat: int) -> None:
    """``--labels``: print the label decode table, write results_labels.json."""
    from benchmarks.formats.labels import BATCH as LABEL_BATCH
    from benchmarks.formats.labels import run

    results = run(n, repeat)
    print(f"{n} labels, batches of {LABEL_BATCH}, best of {repeat}, "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    print("| labels format | bytes/label | labels/s | µs/label |\n|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['format']} | {r['bytes_per_label']} | {r['labels_per_s']:,} | "
              f"{r['us_per_label']} |")
    (HERE / "results_labels.json").write_text(json.dumps(
        {"labels": n, "batch": LABEL_BATCH, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
