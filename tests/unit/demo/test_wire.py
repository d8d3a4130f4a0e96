"""The demo's Avro records: schemas from the manifest, the workers' format settings, the
events' round trip to the scorer's envelope, and predictions read back by format."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streamapp.demo.traffic import TrafficPlan, plan_events
from streamapp.demo.wire import (
    LABEL_SCHEMA,
    ValueReader,
    WireEncoders,
    event_schema,
    wire_format,
    worker_formats,
)
from streamapp.formats.mapping.fields import FieldMap
from streamapp.formats.writers.serialize import ValueEncoder
from streamapp.registry.manifest import FeatureSpec
from streamapp.registry.registry import ModelRegistry
from tests.conftest import MODELS

WHEN = datetime(2026, 12, 7, 12, 0, 0, 123000, tzinfo=UTC)


def _encoder(client: MockSchemaRegistryClient, topic: str, schema: dict[str, Any]
             ) -> ValueEncoder:
    """What ``value_encoder`` builds for a registered Avro schema, on a mock registry."""
    text = orjson.dumps(schema).decode()
    sid = client.register_schema(f"{topic}-value", Schema(text, "AVRO"))
    serializer = AvroSerializer(client, text, conf={"auto.register.schemas": False})
    ctx = SerializationContext(topic, MessageField.VALUE)
    return ValueEncoder("avro", f"{topic}-value", sid, 1, partial(serializer, ctx=ctx))


def _features() -> list[FeatureSpec]:
    return ModelRegistry(MODELS).get("agrawal-clf", "1").manifest.features


def test_event_schema_types_each_feature_and_refuses_a_tensor() -> None:
    schema = event_schema(_features())
    types = {f["name"]: f["type"] for f in schema["fields"]}
    assert types["event_id"] == "string"
    assert types["event_time"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert types["salary"] == types["age"] == ["null", "double"]
    assert types["car"] == types["elevel"] == ["null", "long"]
    texts = [FeatureSpec(name="city", type="categorical", categories=["a", "b"]),
             FeatureSpec(name="flag", type="categorical", categories=[True, False])]
    assert [f["type"][1] for f in event_schema(texts)["fields"][2:]] == ["string", "boolean"]
    with pytest.raises(ValueError, match="image"):
        event_schema([FeatureSpec(name="image", type="tensor", dtype="float32", shape=[2])])


def test_worker_formats_own_every_topic_format_and_need_a_registry_for_avro() -> None:
    assert worker_formats("json", None) == {
        "STREAMAPP_FORMATS__EVENTS": "json", "STREAMAPP_FORMATS__LABELS": "json",
        "STREAMAPP_FORMATS__PREDICTIONS": "json", "STREAMAPP_FORMATS__JOINED_OUTCOMES": "json"}
    env = worker_formats("avro", "http://127.0.0.1:8/apis/ccompat/v7")
    assert env["STREAMAPP_SCHEMA_REGISTRY__URL"] == "http://127.0.0.1:8/apis/ccompat/v7"
    assert {env[f"STREAMAPP_FORMATS__{t}"]
            for t in ("EVENTS", "LABELS", "PREDICTIONS", "JOINED_OUTCOMES")} == {"avro"}
    with pytest.raises(ValueError, match="registry"):
        worker_formats("avro", None)
    with pytest.raises(ValueError, match="protobuf"):
        worker_formats("protobuf", "http://r")


def test_every_planned_event_reads_back_as_the_scorer_reads_its_json_envelope() -> None:
    """Each Avro event maps to the JSON envelope's features (malformed kinds included: each
    still fails as it would in JSON); the broken JSON stays bytes no registry reads."""
    client = MockSchemaRegistryClient({"url": "mock://demo-events"})
    features = _features()
    encoders = WireEncoders(_encoder(client, "ev", event_schema(features)),
                            _encoder(client, "lb", LABEL_SCHEMA))
    reader = ValueReader(client)
    fields = FieldMap([f.name for f in features], {})
    plan = TrafficPlan(rate=1000, duration_s=3, drift_at_s=1, seed=4, malformed_share=0.02)
    malformed = Counter[str]()
    for event in plan_events(plan):
        value = encoders.event(event, WHEN)
        if event.malformed == "invalid_json":
            assert wire_format(value) == "json" and reader.read(value) is None
            malformed[event.malformed] += 1
            continue
        assert wire_format(value) == "wire"
        record = reader.read(value)
        assert record is not None
        envelope = fields.envelope(record, None, None, "agrawal-clf")
        assert len(envelope) == 3, envelope
        event_id, when, found = envelope
        assert (event_id, when) == (event.event_id, WHEN)
        if event.malformed == "missing_feature":  # the feature encoder names it
            assert "loan" not in found
        else:
            assert found == pytest.approx(event.features)
        malformed[event.malformed or "good"] += 1
    assert set(malformed) == {"good", "invalid_json", "out_of_range", "unknown_category",
                              "missing_feature"}
    assert reader.counts == Counter(wire=sum(malformed.values()) - malformed["invalid_json"],
                                    undecodable=malformed["invalid_json"])
    label = reader.read(encoders.label("e1", 1, WHEN))
    assert label == {"event_id": "e1", "label": 1, "label_time": WHEN.isoformat()}


def test_value_reader_counts_json_wire_and_undecodable_values() -> None:
    reader = ValueReader(None)  # no registry: a wire-format value cannot be read
    assert reader.read(b'{"event_id": "e", "predicted_label": 1}') == {
        "event_id": "e", "predicted_label": 1}
    assert reader.read(b"\x00\x00\x00\x00\x01\x02") is None
    assert reader.read(b"not json") is None
    assert reader.read(b"[1, 2]") is None
    assert reader.counts == Counter(json=1, undecodable=3)
