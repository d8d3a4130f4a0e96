"""Avro joined outcomes from the join data plane on the in-memory cluster (no broker): the
same outcomes as JSON, registered before the data plane runs; a refusing subject stops the
monitor's start with one line; an outage waits and names itself."""

from __future__ import annotations

import doctest
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.formats.model_values import ModelValues
from streamapp.formats.resolver import SchemaResolver
from streamapp.formats.writers.avro_columns import header
from streamapp.formats.writers.outputs import OutputRegistry
from streamapp.host import HostContext, OutputSchemaError
from streamapp.metrics.formats import FormatMetrics
from streamapp.monitoring import role as monitor_role
from streamapp.monitoring.dataplane.worker import JoinWorker
from streamapp.schemas import JoinedOutcome
from streamapp.testing.cluster import EOF, InMemoryCluster, join_io
from tests.conftest import MODELS
from tests.unit.formats.test_avro_records import _Compat
from tests.unit.monitoring.data import labels_for, predictions
from tests.unit.monitoring.test_label_format import _Unreachable

N = 60


def _settings(state: Path, fmt: str = "avro") -> Settings:
    return Settings(
        kafka={"bootstrap_servers": "unused:9092"},
        model={"registry": str(MODELS)},
        sampling={"log_rate": 1.0},
        monitoring={"state_dir": str(state), "checkpoint_interval_s": 1e-6, "fetch_size": 1000},
        schema_registry={"url": "http://127.0.0.1:9"},  # replaced by an in-memory client
        formats={"joined_outcomes": fmt},
    )


def _worker(settings: Settings, cluster: InMemoryCluster, client: Any,
            stop: threading.Event, prometheus: CollectorRegistry | None = None) -> JoinWorker:
    worker = JoinWorker(settings, join_io(cluster, settings, 16, stop.set),
                        prometheus or CollectorRegistry(), stop)
    if worker.outcomes.outputs is not None:
        worker.outcomes.outputs = OutputRegistry(client, FormatMetrics(CollectorRegistry()),
                                                 0.05, stop=stop)
    return worker


def _joined(settings: Settings, client: Any, prometheus: CollectorRegistry | None = None
            ) -> list[bytes]:
    """Run the data plane over ``N`` logged predictions and their labels: the outcome values."""
    topics = settings.topics
    preds = predictions(N, seed=5)
    cluster = InMemoryCluster(2)
    for p in preds:
        cluster.produce(topics.prediction_log, p.event_id.encode(), p.model_dump_json().encode())
    for lab in labels_for(preds, 0.7, seed=6):
        cluster.produce(topics.labels, lab.event_id.encode(), lab.model_dump_json().encode())
    for part in range(2):
        cluster.mark(topics.labels, part, EOF())
    stop = threading.Event()
    worker = _worker(settings, cluster, client, stop, prometheus)
    assert worker.start_outcomes() is True
    worker.run()
    return list(cluster.values(topics.joined_outcomes))


def test_avro_outcomes_are_the_json_outcomes_behind_the_registered_id(tmp_path: Path) -> None:
    client = _Compat()
    prometheus = CollectorRegistry()
    settings = _settings(tmp_path / "avro")
    avro = _joined(settings, client, prometheus)
    as_json = _joined(_settings(tmp_path / "json", "json"), None)
    sid = client.get_latest_version(f"{settings.topics.joined_outcomes}-value").schema_id
    assert sid is not None and all(v[:5] == header(sid) for v in avro)
    values = ModelValues(JoinedOutcome, SchemaResolver(client, FormatMetrics(CollectorRegistry())))
    from_avro = {o.event_id: o for o in map(values.decode, avro)}
    from_json = {o.event_id: o for o in map(JoinedOutcome.model_validate_json, as_json)}
    assert len(from_avro) == N and from_avro.keys() == from_json.keys()
    for key, outcome in from_avro.items():
        assert outcome.model_dump(exclude={"joined_at"}) == from_json[key].model_dump(
            exclude={"joined_at"})
    assert all(msgspec.json.decode(v)["features"] for v in as_json)
    assert prometheus.get_sample_value("streamapp_format_records_encoded_total",
                                       {"format": "avro", "record": "joined_outcome"}) == N


def test_a_refusing_subject_stops_the_monitor_start_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings(tmp_path / "state")
    client = _Compat(compatible=False)
    subject = f"{settings.topics.joined_outcomes}-value"
    client.register_schema(subject, _other_schema())
    stop = threading.Event()
    worker = _worker(settings, InMemoryCluster(1), client, stop)
    closed: list[bool] = []
    monkeypatch.setattr(worker, "close", lambda: closed.append(True))
    monkeypatch.setattr(monitor_role, "ensure_topics", lambda *a, **k: None)
    monkeypatch.setattr("streamapp.monitoring.dataplane.worker.kafka_join_worker",
                        lambda *a, **k: worker)
    role = monitor_role.MonitorRole()
    ctx = HostContext(settings, "unused:9092", None, CollectorRegistry(), stop)  # type: ignore[arg-type]
    with pytest.raises(OutputSchemaError) as err:
        role.start(ctx)
    message = str(err.value)
    assert "\n" not in message and f"subject {subject} refuses" in message
    assert "formats.joined_outcomes = avro" in message
    role.close()
    assert closed == [True], "the worker that never ran releases its clients"


def _other_schema() -> Any:
    from confluent_kafka.schema_registry import Schema

    return Schema('{"type": "record", "name": "Theirs", "fields": [{"name": "x", '
                  '"type": "string"}]}', "AVRO")


def test_an_outage_at_start_is_waited_out_and_named_and_a_stop_ends_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "state")
    stop = threading.Event()
    worker = _worker(settings, InMemoryCluster(1), _Unreachable(), stop)
    started: list[bool] = []
    thread = threading.Thread(target=lambda: started.append(worker.start_outcomes()))
    thread.start()
    deadline = time.monotonic() + 30
    while worker.registry_reason() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "schema registry unreachable" in (worker.registry_reason() or "")
    stop.set()
    thread.join(30)
    assert started == [False]
    worker.close()


def test_the_records_doctests_pass() -> None:
    from streamapp.monitoring.dataplane import records

    outcome = doctest.testmod(records)
    assert outcome.attempted > 0 and outcome.failed == 0
