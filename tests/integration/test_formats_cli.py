"""The CLI in the registry formats, on Apache Kafka and a real Apicurio Registry.

``streamapp produce`` writes Avro (and JSON Schema) with confluent-kafka's serializers; a
third-party consumer (confluent-kafka's ``AvroDeserializer``) reads the records back, as
does ``streamapp tail``; a row that does not fit the schema is reported, not sent;
``models register --schema`` takes its features from a registered schema; ``streamapp
status`` shows each topic's format and its subject's latest schema, or that the registry
is unreachable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from streamapp.brokers.schema_registry import ApicurioRegistry
from streamapp.cli import app
from streamapp.config import Settings
from streamapp.formats.wire import message_indexes, schema_id
from streamapp.registry.registry import ModelRegistry
from tests.integration.conftest import produce_all
from tests.integration.test_io_cmd import _read as read_n

pytestmark = pytest.mark.integration

SCHEMA = {
    "type": "record", "name": "Order", "namespace": "shop", "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "salary", "type": "double"},
        {"name": "customer", "type": {"type": "record", "name": "Customer",
                                      "fields": [{"name": "age", "type": ["null", "int"]}]}},
        {"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": ["gold", "tin"]}},
        {"name": "plan", "type": "string"},
        {"name": "active", "type": "boolean"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    ],
}


def _env(settings: Settings, registry_url: str | None, **extra: str) -> dict[str, str]:
    env = {"STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
           "STREAMAPP_FORMATS__EVENTS": "avro",
           # a busy 2-core machine: a cold registry's first answers can take over 10 s
           "STREAMAPP_SCHEMA_REGISTRY__TIMEOUT_S": "60", **extra}
    if registry_url is not None:
        env["STREAMAPP_SCHEMA_REGISTRY__URL"] = registry_url
    for name, value in settings.topics.model_dump().items():
        env[f"STREAMAPP_TOPICS__{name.upper()}"] = str(value)
    return env


def _order(i: int, **changes: Any) -> dict[str, Any]:
    return {"event_id": f"o{i}", "event_time": f"2026-12-07T08:00:0{i}+00:00",
            "salary": 1000.0 + i, "customer": {"age": 30 + i}, "tier": "gold",
            "plan": f"p{i % 2}", "active": i % 2 == 0, "tags": ["a"], **changes}


def test_produce_avro_then_a_third_party_consumer_and_tail_read_it(
    settings_factory: Callable[..., Settings], schema_registry: ApicurioRegistry,
    bootstrap: str, tmp_path: Path,
) -> None:
    settings = settings_factory()
    topic = settings.topics.events
    env = _env(settings, schema_registry.url)
    avsc = tmp_path / "order.avsc"
    avsc.write_text(json.dumps(SCHEMA))
    orders = [_order(0), _order(1), _order(2, salary="lots"), _order(3), _order(4, tier="iron")]
    file = tmp_path / "orders.jsonl"
    file.write_text("\n".join(json.dumps(o) for o in orders) + "\n")

    result = CliRunner().invoke(app, ["produce", str(file), "-t", "events",
                                      "--schema", str(avsc)], env=env)

    assert result.exit_code == 1, result.output
    assert f"produced 3 records to {topic}" in result.output
    assert "schema_mismatch       2  (record 3:" in result.output, result.output
    assert f"2 of 5 records do not fit the schema of {topic}-value" in result.output
    client = SchemaRegistryClient({"url": schema_registry.url})
    latest = client.get_latest_version(f"{topic}-value")
    assert f"version {latest.version} (schema id {latest.schema_id})" in result.output

    got = read_n(bootstrap, topic, 3)
    reader = AvroDeserializer(client)
    ctx = SerializationContext(topic, MessageField.VALUE)
    decoded = sorted((reader(m.value(), ctx) for m in got), key=lambda r: r["event_id"])
    assert [r["event_id"] for r in decoded] == ["o0", "o1", "o3"]
    assert {m.key() for m in got} == {b"o0", b"o1", b"o3"}
    first = decoded[0]
    assert first["event_time"] == datetime(2026, 12, 7, 8, 0, 0, tzinfo=UTC)
    assert (first["customer"], first["tier"], first["active"]) == ({"age": 30}, "gold", True)
    assert all(int.from_bytes(m.value()[1:5], "big") == latest.schema_id for m in got)

    produce_all(bootstrap, topic, [(b"plain", b'{"event_id": "plain"}')])
    tail = CliRunner().invoke(app, ["tail", "events", "--from-beginning", "--max", "4",
                                    "--timeout", "20", "--raw"], env=env)
    assert tail.exit_code == 0, tail.output
    lines = tail.output.strip().splitlines()
    assert len(lines) == 4, tail.output
    shown = {line.split()[1]: line for line in lines}
    assert f"avro schema {latest.schema_id} " in shown["key=o1"]
    body = json.loads(shown["key=o1"].split(f"avro schema {latest.schema_id} ", 1)[1])
    assert body["customer"] == {"age": 31} and body["salary"] == 1001.0
    assert body["event_time"] == "2026-12-07T08:00:01+00:00"
    assert "undecodable (not_wire_format:" in shown["key=plain"]


def test_csv_rows_as_json_schema_records_and_numeric_looking_text(
    settings_factory: Callable[..., Settings], schema_registry: ApicurioRegistry,
    bootstrap: str, tmp_path: Path,
) -> None:
    settings = settings_factory()
    topic = settings.topics.labels
    env = _env(settings, schema_registry.url)
    schema = tmp_path / "label.json"
    schema.write_text(json.dumps({
        "$schema": "http://json-schema.org/draft-07/schema#", "title": "Label",
        "type": "object", "required": ["event_id", "label"],
        "properties": {"event_id": {"type": "string"}, "label": {"type": "integer"}},
    }))
    rows = tmp_path / "labels.csv"
    rows.write_text("event_id,label\n007,1\n008,0\n009,\n")

    result = CliRunner().invoke(app, ["produce", str(rows), "-t", "labels", "--format",
                                      "json_schema", "--schema", str(schema)], env=env)

    assert result.exit_code == 1, result.output
    assert f"produced 2 records to {topic}" in result.output
    assert "(record 3: label: None is not of type 'integer')" in result.output
    assert "1 of 3 records do not fit" in result.output
    reader = JSONDeserializer(None, schema_registry_client=SchemaRegistryClient(
        {"url": schema_registry.url}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    got = sorted(reader(m.value(), ctx)["event_id"] for m in read_n(bootstrap, topic, 2))
    assert got == ["007", "008"], "a text field's column is read as text, zeros kept"


def _protobuf_class() -> Any:
    """``shop.Event {event_id, salary, elevel, customer {age}}``, built from a descriptor."""
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name=f"cli-{id(F)}.proto", package="cli",
                                              syntax="proto3")
    customer = file.message_type.add(name="Customer")
    customer.field.add(name="age", number=1, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    event = file.message_type.add(name="Event")
    event.field.add(name="event_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    event.field.add(name="salary", number=2, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    event.field.add(name="elevel", number=3, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    event.field.add(name="customer", number=4, type=F.TYPE_MESSAGE, type_name=".cli.Customer",
                    label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("cli.Event"))


def test_jsonl_as_protobuf_with_the_latest_registered_schema(
    settings_factory: Callable[..., Settings], schema_registry: ApicurioRegistry,
    bootstrap: str, tmp_path: Path,
) -> None:
    settings = settings_factory()
    topic = settings.topics.events
    client = SchemaRegistryClient({"url": schema_registry.url})
    cls = _protobuf_class()
    ctx = SerializationContext(topic, MessageField.VALUE)
    ProtobufSerializer(cls, client, {"use.deprecated.format": False})(cls(event_id="x"), ctx)
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in (
        {"event_id": "p0", "salary": 1.5, "customer": {"age": 40}, "comment": "extra"},
        {"event_id": "p1", "salary": "much"},
        {"event_id": "p2", "elevel": 3},
    )) + "\n")

    result = CliRunner().invoke(app, ["produce", str(file), "-t", "events",
                                      "--format", "protobuf"],
                                env=_env(settings, schema_registry.url))

    assert result.exit_code == 1, result.output
    assert f"produced 2 records to {topic}" in result.output
    assert "(record 2:" in result.output
    latest = client.get_latest_version(f"{topic}-value")
    got = {}
    for m in read_n(bootstrap, topic, 2):
        assert schema_id(m.value()) == latest.schema_id
        path, start = message_indexes(m.value())
        assert path == [1], "Event, the file's second message (Customer is inside it)"
        got[m.key()] = cls.FromString(m.value()[start:])
    assert got[b"p0"].salary == 1.5 and got[b"p0"].customer.age == 40
    assert got[b"p2"].elevel == 3


def test_produce_without_a_schema_names_the_fix(
    settings_factory: Callable[..., Settings], schema_registry: ApicurioRegistry, tmp_path: Path,
) -> None:
    settings = settings_factory()
    file = tmp_path / "one.jsonl"
    file.write_text(json.dumps(_order(0)) + "\n")
    result = CliRunner().invoke(app, ["produce", str(file), "-t", "events"],
                                env=_env(settings, schema_registry.url))
    assert result.exit_code == 1, result.output
    assert f"no schema registered under {settings.topics.events}-value" in result.output
    assert "--schema FILE" in result.output


def test_register_takes_the_features_from_a_registered_avro_schema(
    schema_registry: ApicurioRegistry, unique: str, tmp_path: Path,
) -> None:
    client = SchemaRegistryClient({"url": schema_registry.url})
    subject = f"orders-{unique}-value"
    sid = client.register_schema(subject, Schema(json.dumps(SCHEMA), "AVRO"))
    rng = np.random.default_rng(3)
    n = 200
    frame = pd.DataFrame({
        "noise": rng.normal(size=n),  # not in the schema: left out
        "plan": rng.choice(["p0", "p1"], n), "active": rng.random(n) < 0.5,
        "tier": rng.choice(["gold", "tin"], n), "age": rng.integers(20, 60, n),
        "salary": rng.normal(1000, 100, n), "y": rng.integers(0, 2, n),
    })
    data = tmp_path / "ref.csv"
    frame.to_csv(data, index=False)
    codes = pd.DataFrame({"salary": frame.salary, "age": frame.age,
                          "tier": (frame.tier == "tin").astype(int),
                          "plan": (frame.plan == "p1").astype(int),
                          "active": frame.active.astype(int)})
    model = LogisticRegression().fit(codes.to_numpy(np.float32), frame.y)
    import joblib

    joblib.dump(model, tmp_path / "model.joblib")
    env = {"STREAMAPP_SCHEMA_REGISTRY__URL": schema_registry.url,
           "STREAMAPP_SCHEMA_REGISTRY__TIMEOUT_S": "60",
           "STREAMAPP_FORMATS__FEATURES": '{"age": "customer.age"}'}
    args = ["models", "register", str(tmp_path / "model.joblib"), "--name", "orders",
            "--data", str(data), "--label", "y", "--registry", str(tmp_path / "reg"),
            "--allow-pickle-code-execution", "--drift-target", "0", "--schema", subject]

    result = CliRunner().invoke(app, args, env=env)

    assert result.exit_code == 0, result.output
    assert f"features from {subject} version 1 (schema id {sid}): salary, age, tier, plan, " \
           "active; not features: tags (array)" in result.output
    manifest = ModelRegistry(tmp_path / "reg").get("orders", "1").manifest
    specs = {f.name: f for f in manifest.features}
    assert list(specs) == ["salary", "age", "tier", "plan", "active"]
    assert specs["salary"].type == specs["age"].type == "numeric"
    assert specs["tier"].categories == ["gold", "tin"]
    assert specs["plan"].categories == ["p0", "p1"]
    assert specs["active"].categories == [False, True]

    frame.drop(columns=["plan"]).to_csv(data, index=False)
    missing = CliRunner().invoke(app, args, env=env)
    assert missing.exit_code == 1, missing.output
    assert "lacks the schema's feature columns ['plan']" in missing.output
    frame.assign(salary="high").to_csv(data, index=False)
    mistyped = CliRunner().invoke(app, args, env=env)
    assert mistyped.exit_code == 1, mistyped.output
    assert "field salary is numeric in" in mistyped.output


def test_status_shows_each_topic_format_and_its_latest_schema(
    settings_factory: Callable[..., Settings], schema_registry: ApicurioRegistry,
) -> None:
    settings = settings_factory()
    client = SchemaRegistryClient({"url": schema_registry.url})
    subject = f"{settings.topics.events}-value"
    client.register_schema(subject, Schema(json.dumps(SCHEMA), "AVRO"))
    latest = client.get_latest_version(subject)

    result = CliRunner().invoke(app, ["status", "--json"],
                                env=_env(settings, schema_registry.url))

    assert result.exit_code == 0, result.output
    rows = {r["topic"]: r for r in orjson.loads(result.stdout)["formats"]}
    assert rows[settings.topics.events] == {
        "topic": settings.topics.events, "format": "avro", "subject": subject,
        "version": latest.version, "schema_id": latest.schema_id, "registry": "ok"}
    assert rows[settings.topics.labels]["format"] == rows[settings.topics.predictions]["format"]
    assert rows[settings.topics.labels]["format"] == "json"

    table = CliRunner().invoke(app, ["status"], env=_env(
        settings, "http://127.0.0.1:9/apis/ccompat/v7", STREAMAPP_FORMATS__LABELS="protobuf"))
    assert table.exit_code == 0, table.output
    assert "topic formats" in table.output
    events_line = next(line for line in table.output.splitlines()
                       if settings.topics.events in line and "avro" in line)
    assert "unreachable" in events_line
    labels_line = next(line for line in table.output.splitlines()
                       if settings.topics.labels in line and "protobuf" in line)
    assert "unreachable" in labels_line
