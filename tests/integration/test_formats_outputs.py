"""Avro predictions through the real Apicurio Registry on Apache Kafka.

Predictions are read back by a third party: confluent-kafka's own ``AvroDeserializer``
with a ``SchemaRegistryClient`` over a plain ``Consumer``, no streamapp code. A subject
whose latest version the new schema breaks (BACKWARD) stops ``streamapp score`` at start
with exit code 2 and one line; a registry down at start is waited out (readiness names
it); JSON stays the default and registers nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from prometheus_client import CollectorRegistry

from streamapp.brokers import free_port
from streamapp.brokers.schema_registry import ApicurioRegistry
from streamapp.config import Settings
from streamapp.formats.writers.outputs import output_registry, register_predictions
from streamapp.metrics.formats import FormatMetrics
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import LoggedPrediction, Prediction
from streamapp.scoring.worker import kafka_worker
from tests.integration.conftest import produce_all
from tests.scoring_support import good_events, metric, read_n, running_worker

pytestmark = pytest.mark.integration

FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "commit_interval_ms": 100}
ROOT = Path(__file__).resolve().parents[2]


def _settings(make: Callable[..., Settings], unique: str, registry: Path, url: str,
              **formats: Any) -> Settings:
    return make(scoring={**FAST, "group_id": f"g-{unique}"}, model={"registry": str(registry)},
                schema_registry={"url": url, "retry_max_s": 0.5},
                sampling={"log_rate": 0.5}, formats=formats)


def _third_party_read(url: str, topic: str, messages: list[Any]) -> list[dict[str, Any]]:
    """The values as confluent-kafka's AvroDeserializer reads them (writer schema by id)."""
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": url}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    return [deserializer(m.value(), ctx) for m in messages]


def test_avro_predictions_are_read_by_a_third_party_consumer_and_the_log_stays_json(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path,
    bootstrap: str, schema_registry: ApicurioRegistry,
) -> None:
    settings = _settings(settings_factory, unique, model_registry_dir, schema_registry.url,
                         predictions="avro")
    topics = settings.topics
    version = ModelRegistry(model_registry_dir).resolve("agrawal-clf")
    events: list[tuple[bytes | None, bytes]] = [*good_events(300, prefix=f"o{unique}-")]
    produce_all(bootstrap, topics.events, events)
    started = datetime.now(UTC)
    with running_worker(settings) as worker:
        messages = read_n(bootstrap, topics.predictions, len(events))
        logged = read_n(bootstrap, topics.prediction_log, 100)
        encoded = metric(worker, "streamapp_format_records_encoded_total", format="avro",
                         record="prediction")
        lookups = metric(worker, "streamapp_schema_registry_requests_total", outcome="ok")
    records = _third_party_read(schema_registry.url, topics.predictions, messages)
    assert {r["event_id"] for r in records} == {(k or b"").decode() for k, _ in events}
    assert all(m.key() == r["event_id"].encode() for m, r in zip(messages, records, strict=True))
    classes = version.manifest.output.classes or []
    for r in records:
        assert r["model_name"] == "agrawal-clf" and r["model_version"] == version.version
        assert r["variant"] == "primary" and isinstance(r["holdout"], bool)
        assert len(r["scores"]) == len(classes) and abs(sum(r["scores"]) - 1) < 1e-5
        assert r["predicted_label"] == classes[max(range(len(classes)),
                                                   key=r["scores"].__getitem__)]
        assert r["predicted_value"] is None
        assert started - timedelta(minutes=1) < r["event_time"] <= r["scored_time"]
        assert r["scored_time"].tzinfo is not None
        Prediction.model_validate(r)  # the same record as the JSON contract
    assert encoded == len(events)
    assert lookups <= 6, "registered once at start, never per event"
    client = SchemaRegistryClient({"url": schema_registry.url})
    subject = f"{topics.predictions}-value"
    assert client.get_compatibility(subject) == "BACKWARD"
    latest = client.get_latest_version(subject)
    assert int.from_bytes(messages[0].value()[1:5], "big") == latest.schema_id
    assert json.loads(latest.schema.schema_str or "")["name"] == "Prediction"
    # a restarted worker registers the same schema again: the same id, no new version
    again = register_predictions(
        output_registry(settings.schema_registry, FormatMetrics(CollectorRegistry())),
        topics.predictions, FormatMetrics(CollectorRegistry()))
    assert again.schema_id == latest.schema_id
    assert client.get_versions(subject) == [latest.version]
    # the prediction log stays JSON: the monitor reads it as it always did
    assert [LoggedPrediction.model_validate_json(m.value()).model_name for m in logged] == [
        "agrawal-clf"] * len(logged)


def test_an_incompatible_subject_stops_score_at_start_with_exit_2_and_one_line(
    unique: str, bootstrap: str, schema_registry: ApicurioRegistry, topic_settings: Any,
    model_registry_dir: Path, tmp_path: Path,
) -> None:
    subject = f"{topic_settings.predictions}-value"
    client = SchemaRegistryClient({"url": schema_registry.url})
    client.set_compatibility(subject, "BACKWARD")
    other = {"type": "record", "name": "Prediction", "namespace": "theirs",
             "fields": [{"name": "customer_segment", "type": "string"}]}
    client.register_schema(subject, Schema(orjson.dumps(other).decode(), "AVRO"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update({f"STREAMAPP_TOPICS__{k.upper()}": v for k, v in topic_settings.model_dump().items()
                if isinstance(v, str)})
    env.update(
        STREAMAPP_KAFKA__BOOTSTRAP_SERVERS=bootstrap, STREAMAPP_LOG__FORMAT="json",
        STREAMAPP_MODEL__REGISTRY=str(model_registry_dir),
        STREAMAPP_SCHEMA_REGISTRY__URL=schema_registry.url,
        STREAMAPP_FORMATS__PREDICTIONS="avro", STREAMAPP_SCORING__PROCESSES="1",
        STREAMAPP_SCORING__GROUP_ID=f"g-{unique}", STREAMAPP_HTTP__PORT=str(free_port()),
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    proc = subprocess.run([sys.executable, "-m", "streamapp", "score"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [json.loads(line) for line in (proc.stdout + proc.stderr).splitlines()
             if line.strip()]
    errors = [r for r in lines if r["level"] in ("ERROR", "CRITICAL")]
    assert len(errors) == 1, lines
    message = str(errors[0]["msg"])
    assert "\n" not in message
    assert f"subject {subject}" in message and "BACKWARD" in message
    assert "formats.predictions" in message
    assert client.get_versions(subject) == [1], "the refused schema was not registered"


def test_a_registry_down_at_start_is_waited_out_then_avro_predictions_flow(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path,
    bootstrap: str,
) -> None:
    with ApicurioRegistry() as registry:
        settings = _settings(settings_factory, unique, model_registry_dir, registry.url,
                             predictions="avro")
        registry.halt()
        stop = threading.Event()
        worker = kafka_worker(settings, bootstrap, prometheus=CollectorRegistry(),
                              stop_event=stop)
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(worker.run()), daemon=True)
        thread.start()
        try:
            assert worker.outputs is not None
            deadline = time.monotonic() + 30
            while worker.outputs.ready_reason() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # the worker's readiness reports it (after the cluster's)
            assert "schema registry unreachable" in (worker.outputs.ready_reason() or "")
            assert worker.ready_reason() is not None
            assert thread.is_alive(), "an outage at start is not a crash"
            assert metric(worker, "streamapp_schema_registry_up") == 0
            registry.restart()
            events: list[tuple[bytes | None, bytes]] = [*good_events(50, prefix=f"r{unique}-")]
            produce_all(bootstrap, settings.topics.events, events)
            messages = read_n(bootstrap, settings.topics.predictions, len(events))
            assert metric(worker, "streamapp_schema_registry_up") == 1
        finally:
            stop.set()
            thread.join(60)
        assert result == [0]
        records = _third_party_read(registry.url, settings.topics.predictions, messages)
    assert {r["event_id"] for r in records} == {(k or b"").decode() for k, _ in events}


def test_json_stays_the_default_and_registers_nothing(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path,
    bootstrap: str, schema_registry: ApicurioRegistry,
) -> None:
    settings = _settings(settings_factory, unique, model_registry_dir, schema_registry.url)
    assert settings.formats.predictions == "json"
    events: list[tuple[bytes | None, bytes]] = [*good_events(50, prefix=f"j{unique}-")]
    produce_all(bootstrap, settings.topics.events, events)
    with running_worker(settings) as worker:
        messages = read_n(bootstrap, settings.topics.predictions, len(events))
        assert worker.outputs is None and worker.router.avro is None
    preds = [Prediction.model_validate_json(m.value()) for m in messages]
    assert {p.event_id for p in preds} == {(k or b"").decode() for k, _ in events}
    subjects = SchemaRegistryClient({"url": schema_registry.url}).get_subjects()
    assert f"{settings.topics.predictions}-value" not in subjects
