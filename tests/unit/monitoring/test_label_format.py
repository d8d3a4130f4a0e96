"""Avro labels through the join data plane on the in-memory cluster (no broker): the same
outcomes as JSON labels, bad records dead-lettered with their reasons, an outage waits."""

from __future__ import annotations

import base64
import io
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import fastavro
import msgspec
import orjson
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.formats.mapping.labels import LabelFields, LabelFormat
from streamapp.formats.mapping.topic import RegistryFormat
from streamapp.formats.readers import AvroReader
from streamapp.formats.resolver import SchemaResolver
from streamapp.metrics.formats import FormatMetrics
from streamapp.monitoring.dataplane.label_format import RegistryLabels
from streamapp.monitoring.dataplane.records import decode_label
from streamapp.monitoring.dataplane.worker import JoinWorker
from streamapp.schemas import DeadLetter
from streamapp.testing.cluster import EOF, InMemoryCluster, join_io
from tests.conftest import MODELS
from tests.unit.monitoring.data import labels_for, predictions

N = 120
SCHEMA = {"type": "record", "name": "Label", "fields": [
    {"name": "event_id", "type": "string"},
    {"name": "label", "type": "int"},
    {"name": "label_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
]}
NO_LABEL = {"type": "record", "name": "Thin", "fields": [{"name": "event_id", "type": "string"}]}


def _settings(state: Path) -> Settings:
    return Settings(
        kafka={"bootstrap_servers": "unused:9092"},
        model={"registry": str(MODELS)},
        sampling={"log_rate": 1.0},
        monitoring={"state_dir": str(state), "checkpoint_interval_s": 1e-6, "fetch_size": 1000},
        schema_registry={"url": "http://127.0.0.1:9"},  # replaced by an in-memory client
        formats={"labels": "avro"},
    )


def _avro(sid: int, schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return b"\x00" + struct.pack(">I", sid) + out.getvalue()


def _labels(client: Any, settings: Settings, stop: threading.Event | None = None
            ) -> RegistryLabels:
    metrics = FormatMetrics(CollectorRegistry())
    resolver = SchemaResolver(client, metrics, retry_max_s=0.05, stop=stop)
    subject = f"{settings.topics.labels}-value"
    fmt = RegistryFormat(AvroReader(resolver, subject), settings.formats, metrics, resolver)
    return RegistryLabels(LabelFormat(fmt, LabelFields()), settings.monitoring.max_label_bytes)


def _worker(settings: Settings, cluster: InMemoryCluster, client: Any,
            stop: threading.Event) -> JoinWorker:
    worker = JoinWorker(settings, join_io(cluster, settings, 16, stop.set), CollectorRegistry(),
                        stop)
    worker.labels_format = _labels(client, settings, stop)
    return worker


def test_avro_labels_join_as_json_labels_do_and_bad_ones_are_dead_lettered(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path / "state")
    topics = settings.topics
    client = MockSchemaRegistryClient({"url": "mock://join"})
    sid = client.register_schema(f"{topics.labels}-value",
                                 Schema(orjson.dumps(SCHEMA).decode(), "AVRO"))
    thin = client.register_schema("thin-value", Schema(orjson.dumps(NO_LABEL).decode(), "AVRO"))
    preds = predictions(N, seed=5)
    labels = labels_for(preds, 0.7, seed=6)
    cluster = InMemoryCluster(2)
    encoded = [(lab.event_id.encode(), _avro(sid, SCHEMA, lab.model_dump())) for lab in labels]
    for key, value in encoded[: N // 2]:  # labels first: held as JSON in the store
        cluster.produce(topics.labels, key, value)
    for p in preds:
        cluster.produce(topics.prediction_log, p.event_id.encode(), p.model_dump_json().encode())
    bad = {b"j": b'{"event_id": "j", "label": 1}', b"u": b"\x00\xff\xff\xff\xff\x02",
           b"t": encoded[0][1][:7], b"n": _avro(thin, NO_LABEL, {"event_id": "e-0"})}
    for key, value in [*encoded[N // 2 :], *bad.items()]:
        cluster.produce(topics.labels, key, value)
    for part in range(2):
        cluster.mark(topics.labels, part, EOF())
    stop = threading.Event()
    _worker(settings, cluster, client, stop).run()

    outcomes = [msgspec.json.decode(v) for v in cluster.values(topics.joined_outcomes)]
    assert sorted((o["event_id"], o["label"]) for o in outcomes) == sorted(
        (lab.event_id, lab.label) for lab in labels)
    assert {o["label_time"] for o in outcomes} == {
        lab.label_time.isoformat().replace("+00:00", "Z") for lab in labels}
    letters = [DeadLetter.model_validate_json(v) for v in cluster.values(topics.dead_letter)]
    assert {(base64.b64decode(d.original_key_b64 or ""), d.reason.value) for d in letters} == {
        (b"j", "not_wire_format"), (b"u", "unknown_schema"), (b"t", "undecodable_payload"),
        (b"n", "schema_mismatch")}  # the reader schema needs a label
    assert {base64.b64decode(d.original_b64) for d in letters} == set(bad.values())


def test_a_held_label_is_stored_as_the_json_label_record(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "state")
    client = MockSchemaRegistryClient({"url": "mock://held"})
    sid = client.register_schema(f"{settings.topics.labels}-value",
                                 Schema(orjson.dumps(SCHEMA).decode(), "AVRO"))
    (lab,) = labels_for(predictions(1), 1.0)
    cluster = InMemoryCluster(1)
    rec = cluster.produce(settings.topics.labels, b"e-0", _avro(sid, SCHEMA, lab.model_dump()))
    out = _labels(client, settings).decode([rec])
    assert not out.rejected
    assert decode_label(out.raw[0]) == out.items[0]
    assert (out.items[0].event_id, out.items[0].label) == (lab.event_id, lab.label)


class _Unreachable:
    """A registry client whose every request fails as a refused connection does."""

    def __init__(self) -> None:
        self.calls = 0

    def get_latest_version(self, subject: str) -> Any:
        self.calls += 1
        raise ConnectionRefusedError("connection refused")

    def get_schema(self, schema_id: int, fmt: str | None = None) -> Any:
        self.calls += 1
        raise ConnectionRefusedError("connection refused")


def test_an_outage_waits_names_itself_and_a_stop_checkpoints_no_label(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "state")
    topics = settings.topics
    (pred,) = predictions(1)
    (lab,) = labels_for([pred], 1.0)
    cluster = InMemoryCluster(1)
    cluster.produce(topics.prediction_log, b"e-0", pred.model_dump_json().encode())
    cluster.produce(topics.labels, b"e-0", _avro(7, SCHEMA, lab.model_dump()))
    stop, client = threading.Event(), _Unreachable()
    worker = _worker(settings, cluster, client, stop)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while worker.registry_reason() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "schema registry unreachable" in (worker.registry_reason() or "")
    assert client.calls >= 1
    stop.set()
    thread.join(30)
    assert not thread.is_alive() and worker.fatal is None
    assert cluster.values(topics.dead_letter) == []
    assert cluster.values(topics.joined_outcomes) == []
    committed = cluster.committed.get(settings.monitoring.app_id, {})
    assert committed.get((topics.labels, 0), 0) == 0  # the label is consumed again


def test_the_data_plane_core_still_loads_no_kafka_client() -> None:
    code = ("import sys, streamapp.monitoring.dataplane.label_format; "
            "print('confluent_kafka' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
