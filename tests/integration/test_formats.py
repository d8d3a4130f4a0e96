"""Avro, Protobuf and JSON Schema events through the real Apicurio Registry on Apache Kafka.

The events are written by confluent-kafka's own serializers (third-party producers, not
streamapp code); every bad input lands in the dead-letter topic with its own reason and
the original bytes; an older compatible writer schema decodes; a registry outage is
retried (readiness names it, no dead letters) and loses nothing.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from streamapp.brokers.schema_registry import ApicurioRegistry
from streamapp.config import Settings
from streamapp.schemas import DeadLetter, Prediction
from streamapp.training.synthetic import agrawal
from tests.integration.conftest import produce_all
from tests.scoring_support import metric, read_n, running_worker

pytestmark = pytest.mark.integration

FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "commit_interval_ms": 100}
NUMERIC = ("salary", "commission", "hvalue", "loan")
INTEGER = ("elevel", "car", "zipcode", "hyears")


def avro_schema(extra: list[dict[str, Any]] | None = None, drop: tuple[str, ...] = ()
                ) -> str:
    """The events' Avro schema: the age nested in ``customer`` (mapped by a setting)."""
    fields: list[dict[str, Any]] = [
        {"name": "event_id", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "customer", "type": {"type": "record", "name": "Customer",
                                      "fields": [{"name": "age", "type": "int"}]}},
        *({"name": n, "type": "double"} for n in NUMERIC),
        *({"name": n, "type": "int"} for n in INTEGER),
        {"name": "comment", "type": "string", "default": ""},
        *(extra or []),
    ]
    fields = [f for f in fields if f["name"] not in drop]
    return orjson.dumps({"type": "record", "name": "Event", "namespace": "shop",
                         "fields": fields}).decode()


def avro_records(n: int, prefix: str, seed: int = 3, **extra: Any) -> list[dict[str, Any]]:
    out = []
    for i, (x, _y) in enumerate(agrawal(n, seed)):
        record: dict[str, Any] = {
            "event_id": f"{prefix}{i}", "event_time": datetime.now(UTC),
            "customer": {"age": int(x["age"])}, "comment": "hi", **extra,
        }
        record.update({k: float(x[k]) for k in NUMERIC})
        record.update({k: int(x[k]) for k in INTEGER})
        out.append(record)
    return out


def _settings(make: Callable[..., Settings], unique: str, registry: Path, url: str,
              fmt: str, **formats: Any) -> Settings:
    return make(
        scoring={**FAST, "group_id": f"g-{unique}"}, model={"registry": str(registry)},
        schema_registry={"url": url},
        formats={"events": fmt, "features": {"age": "customer.age"}, **formats},
    )


def _serialize(serializer: Any, topic: str, records: list[Any]) -> list[tuple[bytes, bytes]]:
    ctx = SerializationContext(topic, MessageField.VALUE)
    out = []
    for r in records:
        key = (r["event_id"] if isinstance(r, dict) else r.event_id).encode()
        out.append((key, serializer(r, ctx)))
    return out


def _letters(bootstrap: str, topic: str, n: int) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(m.value()) for m in read_n(bootstrap, topic, n)]


def test_avro_events_of_a_third_party_producer_are_scored_and_bad_ones_dead_lettered(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path,
    bootstrap: str, schema_registry: ApicurioRegistry,
) -> None:
    settings = _settings(settings_factory, unique, model_registry_dir, schema_registry.url,
                         "avro")
    topics = settings.topics
    client = SchemaRegistryClient({"url": schema_registry.url})
    client.set_compatibility(f"{topics.events}-value", "BACKWARD")
    serializer = AvroSerializer(client, avro_schema())
    good = _serialize(serializer, topics.events, avro_records(400, "a"))
    sid = int.from_bytes(good[0][1][1:5], "big")
    json_id = client.register_schema(
        f"other-{unique}", Schema(
            '{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Other", '
            '"type": "object"}', "JSON"))
    no_age = AvroSerializer(client, orjson.dumps({
        "type": "record", "name": "Thin", "fields": [
            {"name": "event_id", "type": "string"}, {"name": "salary", "type": "double"}],
    }).decode(), conf={"auto.register.schemas": True})
    bad = [
        (b'{"event_id": "json"}', "not_wire_format"),
        (b"\x00\x01", "not_wire_format"),
        (b"\x00" + (10**8).to_bytes(4, "big") + b"\x02", "unknown_schema"),
        (b"\x00" + sid.to_bytes(4, "big") + b"\x02a", "undecodable_payload"),
        (b"\x00" + json_id.to_bytes(4, "big") + b"{}", "schema_mismatch"),
        # a writer the subject's (reader) schema cannot read: fields without defaults missing
        (_serialize(no_age, f"thin-{unique}", [{"event_id": "thin", "salary": 1.0}])[0][1],
         "schema_mismatch"),
    ]
    records = good[:200] + [(f"b{i}".encode(), v) for i, (v, _r) in enumerate(bad)] + good[200:]
    produce_all(bootstrap, topics.events, records)
    with running_worker(settings) as worker:
        preds = read_n(bootstrap, topics.predictions, len(good))
        letters = _letters(bootstrap, topics.dead_letter, len(bad))
        assert metric(worker, "streamapp_format_records_total", format="avro",
                      result="ok") == len(good) + 0
        lookups = metric(worker, "streamapp_schema_registry_requests_total", outcome="ok")
    ids = {Prediction.model_validate_json(m.value()).event_id for m in preds}
    assert ids == {k.decode() for k, _ in good}
    assert Counter(d.reason.value for d in letters) == Counter(r for _v, r in bad)
    originals = {d.reason.value: base64.b64decode(d.original_b64) for d in letters}
    assert originals["unknown_schema"] == bad[2][0]
    assert originals["undecodable_payload"] == bad[3][0]
    assert lookups <= 10, "a registry round trip per schema id, not per event"


def test_an_older_writer_schema_decodes_after_a_field_is_added_and_one_removed(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path,
    bootstrap: str, schema_registry: ApicurioRegistry,
) -> None:
    settings = _settings(settings_factory, unique, model_registry_dir, schema_registry.url,
                         "avro")
    topics = settings.topics
    client = SchemaRegistryClient({"url": schema_registry.url})
    client.set_compatibility(f"{topics.events}-value", "BACKWARD")
    v1 = _serialize(AvroSerializer(client, avro_schema()), topics.events,
                    avro_records(100, "v1-"))
    channel = [{"name": "channel", "type": "string", "default": "web"}]
    v2 = _serialize(AvroSerializer(client, avro_schema(channel, drop=("comment",))),
                    topics.events, avro_records(100, "v2-", seed=5, channel="app"))
    assert v1[0][1][1:5] != v2[0][1][1:5]
    produce_all(bootstrap, topics.events, v1 + v2 + v1[:0])
    with running_worker(settings):
        preds = read_n(bootstrap, topics.predictions, 200)
    ids = {Prediction.model_validate_json(m.value()).event_id for m in preds}
    assert ids == {k.decode() for k, _ in v1 + v2}


def _protobuf_class() -> Any:
    file = descriptor_pb2.FileDescriptorProto(name="event.proto", package="shop",
                                              syntax="proto3")
    customer = file.message_type.add(name="Customer")
    customer.field.add(name="age", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
                       label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    event = file.message_type.add(name="Event")
    F = descriptor_pb2.FieldDescriptorProto
    event.field.add(name="event_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    event.field.add(name="event_time", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    event.field.add(name="customer", number=3, type=F.TYPE_MESSAGE, type_name=".shop.Customer",
                    label=F.LABEL_OPTIONAL)
    for i, name in enumerate(NUMERIC + INTEGER, start=4):
        kind = F.TYPE_DOUBLE if name in NUMERIC else F.TYPE_INT64
        event.field.add(name=name, number=i, type=kind, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Event"))


def test_protobuf_events_are_scored(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path,
    bootstrap: str, schema_registry: ApicurioRegistry,
) -> None:
    settings = _settings(settings_factory, unique, model_registry_dir, schema_registry.url,
                         "protobuf")
    topics = settings.topics
    client = SchemaRegistryClient({"url": schema_registry.url})
    cls = _protobuf_class()
    serializer = ProtobufSerializer(cls, client, {"use.deprecated.format": False})
    messages = []
    for r in avro_records(300, "p"):
        msg = cls(event_id=r["event_id"], event_time=r["event_time"].isoformat(),
                  **{k: r[k] for k in NUMERIC + INTEGER})
        msg.customer.age = r["customer"]["age"]
        messages.append(msg)
    records = _serialize(serializer, topics.events, messages)
    broken = b"\x00" + records[0][1][1:5] + b"\x00\xff"
    produce_all(bootstrap, topics.events, [*records, (b"x", broken)])
    with running_worker(settings):
        preds = read_n(bootstrap, topics.predictions, len(records))
        letters = _letters(bootstrap, topics.dead_letter, 1)
    ids = {Prediction.model_validate_json(m.value()).event_id for m in preds}
    assert ids == {k.decode() for k, _ in records}
    assert [d.reason.value for d in letters] == ["undecodable_payload"]


def test_json_schema_events_are_scored_and_violations_dead_lettered(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path,
    bootstrap: str, schema_registry: ApicurioRegistry,
) -> None:
    settings = _settings(settings_factory, unique, model_registry_dir, schema_registry.url,
                         "json_schema")
    topics = settings.topics
    client = SchemaRegistryClient({"url": schema_registry.url})
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#", "title": "Event",
        "type": "object", "required": ["event_id", "event_time", "customer"],
        "properties": {
            "event_id": {"type": "string"}, "event_time": {"type": "string"},
            "customer": {"type": "object", "properties": {"age": {"type": "integer"}}},
            **{k: {"type": "number"} for k in NUMERIC + INTEGER},
        },
    }
    serializer = JSONSerializer(orjson.dumps(schema).decode(), client)
    rows = [{**r, "event_time": r["event_time"].isoformat()} for r in avro_records(300, "j")]
    for r in rows:
        del r["comment"]
    records = _serialize(serializer, topics.events, rows)
    bad = records[0][1][:5] + orjson.dumps({"event_id": "bad", "event_time": "x",
                                           "customer": {"age": "old"}})
    produce_all(bootstrap, topics.events, [*records, (b"bad", bad)])
    with running_worker(settings):
        preds = read_n(bootstrap, topics.predictions, len(records))
        letters = _letters(bootstrap, topics.dead_letter, 1)
    ids = {Prediction.model_validate_json(m.value()).event_id for m in preds}
    assert ids == {k.decode() for k, _ in records}
    assert [d.reason.value for d in letters] == ["schema_mismatch"]
    assert "customer/age" in letters[0].detail


def test_a_registry_restart_during_traffic_loses_nothing_and_secrets_stay_out_of_logs(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path,
    bootstrap: str, caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "sr-secret-hunter2"
    with ApicurioRegistry(durable=True) as registry:
        settings = settings_factory(
            scoring={**FAST, "group_id": f"g-{unique}"},
            model={"registry": str(model_registry_dir)},
            schema_registry={"url": registry.url, "basic_auth_user": "scorer",
                             "basic_auth_password": secret, "retry_max_s": 0.5},
            formats={"events": "avro", "features": {"age": "customer.age"}},
        )
        topics = settings.topics
        client = SchemaRegistryClient({"url": registry.url})
        serializer = AvroSerializer(client, avro_schema())
        first = _serialize(serializer, topics.events, avro_records(100, "r1-"))
        later = _serialize(serializer, topics.events, avro_records(100, "r2-", seed=4))
        registry.halt()  # down before the worker resolved a single id
        caplog.set_level(logging.INFO)
        with running_worker(settings) as worker:
            produce_all(bootstrap, topics.events, first)
            assert worker.events_format is not None
            deadline = time.monotonic() + 30
            while worker.events_format.ready_reason() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # the worker's readiness reports it (after the cluster's)
            assert "schema registry unreachable" in (worker.events_format.ready_reason() or "")
            assert metric(worker, "streamapp_schema_registry_up") == 0
            registry.restart()  # durable: the schemas and their ids survive
            preds = read_n(bootstrap, topics.predictions, 100)
            produce_all(bootstrap, topics.events, later)
            preds = read_n(bootstrap, topics.predictions, 200)
            assert metric(worker, "streamapp_schema_registry_up") == 1
            assert metric(worker, "streamapp_schema_registry_requests_total",
                          outcome="unavailable") >= 1
            dead = metric(worker, "streamapp_dead_letter_total", reason="unknown_schema",
                          model="agrawal-clf")
    ids = {Prediction.model_validate_json(m.value()).event_id for m in preds}
    assert ids == {k.decode() for k, _ in first + later}
    assert dead == 0
    assert "schema registry unreachable" in caplog.text
    assert secret not in caplog.text


def test_cli_broker_with_a_schema_registry_prints_its_url_and_stops_on_sigterm() -> None:
    import os
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamapp", "broker", "--kind", "tansu", "--schema-registry"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().strip().startswith("127.0.0.1:")
        lines = [proc.stderr.readline() for _ in range(4)]
        (url,) = [line.split(": ", 1)[1].strip() for line in lines
                  if line.startswith("schema registry: ")]
        assert SchemaRegistryClient({"url": url}).get_subjects() == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
