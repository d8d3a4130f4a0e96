"""Joined outcomes written as Avro by ``streamapp monitor`` through the real Apicurio Registry.

A scoring worker scores JSON events on Apache Kafka and logs every prediction; JSON labels
arrive; a ``streamapp monitor`` process with ``formats.joined_outcomes = avro`` joins them.
A third party reads the outcomes topic with confluent-kafka's own ``AvroDeserializer``
(no streamapp code) and gets every outcome with its true label and scored prediction; the
retrainer's own reading (``RetrainService._read_outcomes`` over a plain consumer) gets the
same outcomes back as :class:`~streamapp.schemas.JoinedOutcome`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from prometheus_client import CollectorRegistry

from streamapp.brokers.schema_registry import ApicurioRegistry
from streamapp.config import Settings
from streamapp.metrics.formats import FormatMetrics
from streamapp.retrain.service import RetrainService
from streamapp.schemas import JoinedOutcome
from tests.integration.test_formats_labels import N, _produce, _scored, _truth
from tests.integration.test_monitor import start_monitor, value
from tests.scoring_support import read_n

pytestmark = pytest.mark.integration

FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "commit_interval_ms": 100}


def _monitor_env(settings: Settings, unique: str, state: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update({
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
        "STREAMAPP_MODEL__REGISTRY": str(settings.model.registry),
        "STREAMAPP_LOG__FORMAT": "json",
        "STREAMAPP_MONITORING__APP_ID": f"mon-{unique}",
        "STREAMAPP_MONITORING__STATE_DIR": str(state),
        "STREAMAPP_SAMPLING__LOG_RATE": "1.0",
        "STREAMAPP_SAMPLING__HOLDOUT_RATE": "0.0",
        "STREAMAPP_SCHEMA_REGISTRY__URL": url,
        "STREAMAPP_FORMATS__JOINED_OUTCOMES": "avro",
        **{f"STREAMAPP_TOPICS__{k.upper()}": str(v)
           for k, v in settings.topics.model_dump().items()},
    })
    return env


def _retrainer_reads(settings: Settings, bootstrap: str) -> list[JoinedOutcome]:
    """What the retrainer buffers from the outcomes topic (its own consumer loop's step)."""
    topic = settings.topics.joined_outcomes
    service = RetrainService(settings, bootstrap, formats=FormatMetrics(CollectorRegistry()))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "retrainer-read",
                         "enable.auto.commit": False})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + 30
        while len(service.buffer) < N and time.monotonic() < deadline:
            service._read_outcomes(consumer)
    finally:
        consumer.close()
    assert not service.outcomes.skipped
    return service.buffer.select("agrawal-clf", datetime.min.replace(tzinfo=UTC), N)


def test_avro_outcomes_are_read_by_a_third_party_and_by_the_retrainer(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path,
    bootstrap: str, schema_registry: ApicurioRegistry, tmp_path: Path,
) -> None:
    settings = settings_factory(
        scoring={**FAST, "group_id": f"g-{unique}"}, model={"registry": str(model_registry_dir)},
        sampling={"log_rate": 1.0, "holdout_rate": 0.0},
        schema_registry={"url": schema_registry.url}, formats={"joined_outcomes": "avro"},
    )
    topics = settings.topics
    scored, truth = _scored(settings, bootstrap), _truth()
    _produce(bootstrap, topics.labels, [
        (e.encode(), json.dumps({"event_id": e, "label": y,
                                 "label_time": "2026-12-07T08:00:00Z"}).encode())
        for e, y in truth.items()])
    env = _monitor_env(settings, unique, tmp_path / "state", schema_registry.url)
    mon = start_monitor(env, tmp_path / "monitor.log")
    try:
        mon.wait_ready(90.0)
        messages = read_n(bootstrap, topics.joined_outcomes, N)
        assert value(mon, "streamapp_format_records_encoded_total", format="avro",
                     record="joined_outcome") == N
        assert value(mon, "streamapp_schema_registry_requests_total", outcome="ok") <= 6
    finally:
        mon.stop()

    client = SchemaRegistryClient({"url": schema_registry.url})
    subject = f"{topics.joined_outcomes}-value"
    latest = client.get_latest_version(subject)
    assert client.get_compatibility(subject) == "BACKWARD"
    assert json.loads(latest.schema.schema_str or "")["name"] == "JoinedOutcome"
    assert {m.value()[:5] for m in messages} == {
        b"\x00" + int(latest.schema_id or 0).to_bytes(4, "big")}
    read = AvroDeserializer(client)
    ctx = SerializationContext(topics.joined_outcomes, MessageField.VALUE)
    records = [read(m.value(), ctx) for m in messages]
    assert all(m.key() == r["event_id"].encode() for m, r in zip(messages, records, strict=True))
    assert {r["event_id"]: r["label"] for r in records} == truth
    assert {r["event_id"]: r["predicted_label"] for r in records} == scored
    for r in records:
        assert r["model_name"] == "agrawal-clf" and r["variant"] == "primary"
        assert len(r["features"]) == 9 and r["label_time"].tzinfo is not None
    third_party = {o.event_id: o for o in map(JoinedOutcome.model_validate, records)}

    ours = _retrainer_reads(settings, bootstrap)
    assert {o.event_id: o for o in ours} == third_party
