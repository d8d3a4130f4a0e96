"""Labels in Avro and Protobuf, written by a third-party producer, joined by the monitor.

A scoring worker scores JSON events on Apache Kafka and logs every prediction; the labels
are written by confluent-kafka's own serializers through the real Apicurio Registry and a
plain ``Producer`` (not streamapp code); a ``streamapp monitor`` process joins them:
exact joined counts, the rolling accuracy of the scored predictions against the truth,
every bad label in the dead-letter topic with its reason and original bytes, and a
registry outage that is waited out (readiness 503) without dead letters or loss.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from streamapp.brokers.schema_registry import ApicurioRegistry
from streamapp.child import Child
from streamapp.config import Settings
from streamapp.schemas import DeadLetter, JoinedOutcome, Prediction
from streamapp.training.synthetic import agrawal
from tests.integration.conftest import produce_all
from tests.integration.test_monitor import start_monitor, value, wait_for
from tests.scoring_support import good_events, read_n, running_worker

pytestmark = pytest.mark.integration

N = 240
SEED = 3
MODEL = {"model": "agrawal-clf", "version": "1"}
FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "commit_interval_ms": 100}
LABEL_AVRO = orjson.dumps({
    "type": "record", "name": "Truth", "namespace": "shop", "fields": [
        {"name": "order", "type": "string"},
        {"name": "outcome", "type": "int"},
        {"name": "known_at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
         "default": None},
    ]}).decode()


def _scored(settings: Settings, bootstrap: str) -> dict[str, int | str | None]:
    """Score ``N`` JSON events (every prediction logged): event id → predicted label."""
    events: list[tuple[bytes | None, bytes]] = list(good_events(N, "e", SEED))
    produce_all(bootstrap, settings.topics.events, events)
    with running_worker(settings):
        preds = read_n(bootstrap, settings.topics.predictions, N)
        read_n(bootstrap, settings.topics.prediction_log, N)
    return {(p := Prediction.model_validate_json(m.value())).event_id: p.predicted_label
            for m in preds}


def _truth() -> dict[str, int]:
    """The true class of every event (the Agrawal generator's)."""
    return {f"e{i}": int(y) for i, (_x, y) in enumerate(agrawal(N, SEED))}


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """A third party's plain producer (not streamapp's helpers)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failed: list[Any] = []
    for key, val in records:
        producer.produce(topic, val, key,
                         on_delivery=lambda err, _msg: failed.append(err) if err else None)
    assert producer.flush(30) == 0 and not failed


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], unique: str,
             model_registry_dir: Path) -> Settings:
    return settings_factory(
        scoring={**FAST, "group_id": f"g-{unique}"}, model={"registry": str(model_registry_dir)},
        sampling={"log_rate": 1.0, "holdout_rate": 0.0},
    )


@pytest.fixture
def monitor(settings: Settings, unique: str, tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start ``streamapp monitor`` processes on this test's topics; stopped at the end."""
    started: list[Child] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update({
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
        "STREAMAPP_MODEL__REGISTRY": str(settings.model.registry),
        "STREAMAPP_LOG__FORMAT": "json",
        "STREAMAPP_MONITORING__APP_ID": f"mon-{unique}",
        "STREAMAPP_MONITORING__STATE_DIR": str(tmp_path / "state"),
        "STREAMAPP_SAMPLING__LOG_RATE": "1.0",
        "STREAMAPP_SAMPLING__HOLDOUT_RATE": "0.0",
        "STREAMAPP_MONITORING__COUNT_WINDOW": "100000",
        **{f"STREAMAPP_TOPICS__{k.upper()}": str(v)
           for k, v in settings.topics.model_dump().items()},
    })

    def start(**extra: str) -> Child:
        mon = start_monitor({**env, **extra}, tmp_path / f"monitor-{len(started)}.log")
        started.append(mon)
        return mon

    try:
        yield start
    finally:
        for mon in started:
            mon.stop()


def _accuracy(mon: Child) -> float:
    return value(mon, "streamapp_model_metric", **MODEL, variant="primary", holdout="false",
                 window="count:100000", metric="accuracy")


def _expect_joined(mon: Child, settings: Settings, scored: dict[str, Any],
                   truth: dict[str, int]) -> None:
    """Exactly ``N`` outcomes, each with its true label; the rolling accuracy of the scores."""
    wait_for(lambda: value(mon, "streamapp_outcomes_recorded", **MODEL) == N,
             what=f"{N} outcomes")
    assert value(mon, "streamapp_label_joins_total", **MODEL, variant="primary") == N
    expected = sum(scored[e] == truth[e] for e in truth) / N
    wait_for(lambda: _accuracy(mon) == expected, what=f"accuracy {expected}")
    outcomes = [JoinedOutcome.model_validate_json(m.value())
                for m in read_n(settings.kafka.bootstrap_servers or "",
                                settings.topics.joined_outcomes, N)]
    assert len(outcomes) == N
    assert {o.event_id: int(o.label) for o in outcomes} == truth


def test_avro_labels_of_a_third_party_producer_are_joined_and_bad_ones_dead_lettered(
    settings: Settings, bootstrap: str, schema_registry: ApicurioRegistry,
    monitor: Callable[..., Child],
) -> None:
    topics = settings.topics
    scored, truth = _scored(settings, bootstrap), _truth()
    client = SchemaRegistryClient({"url": schema_registry.url})
    client.set_compatibility(f"{topics.labels}-value", "BACKWARD")
    serialize = AvroSerializer(client, LABEL_AVRO)
    ctx = SerializationContext(topics.labels, MessageField.VALUE)
    now = datetime.now(UTC)
    good = [(e.encode(), serialize({"order": e, "outcome": y,
                                    "known_at": now if i % 2 else None}, ctx))
            for i, (e, y) in enumerate(truth.items())]  # half without a time: the record's
    sid = int.from_bytes(good[0][1][1:5], "big")
    bad = [
        (b"json", b'{"event_id": "e0", "label": 1, "label_time": "2026-12-07T08:00:00Z"}',
         "not_wire_format"),
        (b"gone", b"\x00" + (10**8).to_bytes(4, "big") + b"\x02", "unknown_schema"),
        (b"cut", b"\x00" + sid.to_bytes(4, "big") + b"\x02", "undecodable_payload"),
    ]
    _produce(bootstrap, topics.labels, good[: N // 2] + [(k, v) for k, v, _r in bad]
             + good[N // 2:])
    mon = monitor(STREAMAPP_FORMATS__LABELS="avro",
                  STREAMAPP_SCHEMA_REGISTRY__URL=schema_registry.url,
                  STREAMAPP_FORMATS__LABEL_ID_FIELD="order",
                  STREAMAPP_FORMATS__LABEL_FIELD="outcome",
                  STREAMAPP_FORMATS__LABEL_TIME_FIELD="known_at")
    mon.wait_ready(90.0)
    _expect_joined(mon, settings, scored, truth)
    letters = [DeadLetter.model_validate_json(m.value())
               for m in read_n(bootstrap, topics.dead_letter, len(bad))]
    assert Counter(d.reason.value for d in letters) == Counter(r for _k, _v, r in bad)
    assert {base64.b64decode(d.original_b64) for d in letters} == {v for _k, v, _r in bad}
    assert value(mon, "streamapp_format_records_total", format="avro", result="ok") == N
    assert value(mon, "streamapp_schema_registry_requests_total", outcome="ok") <= 5


def _protobuf_label() -> Any:
    """A generated-code-free ``shop.Truth`` message: id, class as text, RFC 3339 time."""
    file = descriptor_pb2.FileDescriptorProto(name="truth.proto", package="shop",
                                              syntax="proto3")
    msg = file.message_type.add(name="Truth")
    F = descriptor_pb2.FieldDescriptorProto
    for number, name in enumerate(("event_id", "label", "label_time"), start=1):
        msg.field.add(name=name, number=number, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Truth"))


def test_protobuf_labels_are_joined_with_text_classes(
    settings: Settings, bootstrap: str, schema_registry: ApicurioRegistry,
    monitor: Callable[..., Child],
) -> None:
    topics = settings.topics
    scored, truth = _scored(settings, bootstrap), _truth()
    cls = _protobuf_label()
    serialize = ProtobufSerializer(cls, SchemaRegistryClient({"url": schema_registry.url}),
                                   {"use.deprecated.format": False})
    ctx = SerializationContext(topics.labels, MessageField.VALUE)
    when = datetime.now(UTC).isoformat()
    good = [(e.encode(), serialize(cls(event_id=e, label=str(y), label_time=when), ctx))
            for e, y in truth.items()]
    broken = b"\x00" + good[0][1][1:5] + b"\x00\xff"
    _produce(bootstrap, topics.labels, [*good, (b"broken", broken)])
    mon = monitor(STREAMAPP_FORMATS__LABELS="protobuf",
                  STREAMAPP_SCHEMA_REGISTRY__URL=schema_registry.url)
    mon.wait_ready(90.0)
    _expect_joined(mon, settings, scored, truth)  # "1" is the class 1
    (letter,) = [DeadLetter.model_validate_json(m.value())
                 for m in read_n(bootstrap, topics.dead_letter, 1)]
    assert letter.reason.value == "undecodable_payload"
    assert base64.b64decode(letter.original_b64) == broken


def test_a_registry_outage_is_waited_out_with_readiness_503_and_nothing_lost(
    settings: Settings, bootstrap: str, monitor: Callable[..., Child],
) -> None:
    topics = settings.topics
    scored, truth = _scored(settings, bootstrap), _truth()
    with ApicurioRegistry(durable=True) as registry:
        serialize = AvroSerializer(SchemaRegistryClient({"url": registry.url}), LABEL_AVRO)
        ctx = SerializationContext(topics.labels, MessageField.VALUE)
        good = [(e.encode(), serialize({"order": e, "outcome": y, "known_at": None}, ctx))
                for e, y in truth.items()]
        mon = monitor(STREAMAPP_FORMATS__LABELS="avro",
                      STREAMAPP_SCHEMA_REGISTRY__URL=registry.url,
                      STREAMAPP_SCHEMA_REGISTRY__RETRY_MAX_S="0.5",
                      STREAMAPP_FORMATS__LABEL_ID_FIELD="order",
                      STREAMAPP_FORMATS__LABEL_FIELD="outcome")
        mon.wait_ready(90.0)
        registry.halt()  # down before the monitor resolved the labels' schema id
        _produce(bootstrap, topics.labels, good)
        wait_for(lambda: mon.get("/health/ready")[0] == 503, what="readiness 503")
        assert value(mon, "streamapp_schema_registry_up") == 0
        assert value(mon, "streamapp_outcomes_recorded", **MODEL) == 0
        registry.restart()  # durable: the schema and its id survive
        _expect_joined(mon, settings, scored, truth)
        assert mon.get("/health/ready")[0] == 200
        assert value(mon, "streamapp_schema_registry_up") == 1
        assert value(mon, "streamapp_schema_registry_requests_total", outcome="unavailable") >= 1
    assert read_n(bootstrap, topics.dead_letter, 1, timeout=3.0) == []
