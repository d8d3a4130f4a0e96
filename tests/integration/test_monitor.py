"""The monitor on the real embedded broker: two workers, one global result, one retrain request.

Each monitor is a separate ``streamapp monitor`` process (as deployed), talking
to the session broker; tests wait on /metrics values and message counts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from sklearn import metrics as skm

from streamapp.brokers import free_port
from streamapp.child import Child, streamapp_command
from streamapp.config import TopicSettings
from streamapp.monitoring.dataplane.store import JOINED, data_key, entry
from streamapp.schemas import JoinedOutcome, RetrainRequest
from tests.conftest import MODELS
from tests.integration.conftest import consume_n, produce_all
from tests.unit.monitoring.data import labels_for, predictions

pytestmark = pytest.mark.integration


def start_monitor(env: dict[str, str], log: Path) -> Child:
    """One ``streamapp monitor`` subprocess with its /metrics port."""
    port = free_port()
    env = {**env, "STREAMAPP_HTTP__PORT": str(port)}
    argv = streamapp_command("monitor")
    return Child("monitor", argv, env, log, http_port=port, cwd=log.parent).start()


def value(mon: Child, name: str, **labels: str) -> float:
    """One sample of the monitor's /metrics (0 when absent)."""
    return mon.metrics().get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(cond: Callable[[], bool], timeout: float = 90.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def read_topic(bootstrap: str, topic: str, partition: int = 0) -> list[bytes]:
    """Every record of one partition up to the high-water mark carried in fetch responses."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    out: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for msg in consumer.consume(100, 0.5):
                if msg.error() is None:
                    out.append(msg.value())
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high >= 0 and len(out) >= high:
                return out
    finally:
        consumer.close()
    raise AssertionError(f"could not read {topic} to its end")


def wait_ready(mon: Child) -> None:
    """Wait for /health/ready; on timeout the error shows the worker's log (readiness flags
    at DEBUG)."""
    mon.wait_ready(90.0)


@pytest.fixture
def monitors(
    bootstrap: str, topic_settings: TopicSettings, unique: str, tmp_path: Path
) -> Iterator[Callable[..., Child]]:
    """Start monitor processes sharing one app id; all are stopped at the end."""
    started: list[Child] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update(
        {
            "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "STREAMAPP_MODEL__REGISTRY": str(MODELS),
            "STREAMAPP_LOG__FORMAT": "json",
            "STREAMAPP_LOG__LEVEL": "DEBUG",  # readiness flags in the log on failure
            "STREAMAPP_MONITORING__APP_ID": f"mon-{unique}",
            "STREAMAPP_SAMPLING__LOG_RATE": "1.0",  # the tests log every prediction
            "STREAMAPP_MONITORING__COUNT_WINDOW": "100000",
            "STREAMAPP_MONITORING__POLICY": json.dumps({"min_samples": 100}),
        }
    )
    for field, name in topic_settings.model_dump().items():
        env[f"STREAMAPP_TOPICS__{field.upper()}"] = str(name)

    def start(**extra: str) -> Child:
        state = {"STREAMAPP_MONITORING__STATE_DIR": str(tmp_path / f"state-{len(started)}")}
        mon = start_monitor({**env, **state, **extra}, tmp_path / f"monitor-{len(started)}.log")
        started.append(mon)
        return mon

    try:
        yield start
    finally:
        for mon in started:
            mon.stop()


def _records(items: list[Any]) -> list[tuple[bytes | None, bytes]]:
    return [(i.event_id.encode(), i.model_dump_json().encode()) for i in items]


def test_two_workers_give_the_global_numbers_and_one_retrain_request(
    bootstrap: str, topic_settings: TopicSettings, monitors: Callable[..., Child]
) -> None:
    workers = [monitors(), monitors()]
    for worker in workers:
        wait_ready(worker)
    preds = predictions(300, seed=11)
    labels = labels_for(preds, correct=0.6, seed=12)  # accuracy far below the 0.9965 baseline
    produce_all(bootstrap, topic_settings.labels, _records(labels[:100]))  # labels first
    produce_all(bootstrap, topic_settings.prediction_log, _records(preds))
    produce_all(bootstrap, topic_settings.labels, _records(labels[100:] + labels[:30]))

    def total(name: str, **labels: str) -> float:
        return sum(value(w, name, **labels) for w in workers)

    model = {"model": "agrawal-clf", "version": "1"}
    wait_for(lambda: total("streamapp_outcomes_recorded", **model) == 300, what="300 outcomes")
    wait_for(lambda: total("streamapp_join_duplicates_total", kind="label") == 30, what="dups")
    joins = sum(
        total("streamapp_label_joins_total", **model, variant=v) for v in ("primary", "canary")
    )
    assert joins == 300
    owners = [w for w in workers if value(w, "streamapp_outcomes_recorded", **model) == 300]
    assert len(owners) == 1  # one policy agent holds the global view
    primary = [
        (lab.label, p.predicted_label)
        for p, lab in zip(preds, labels, strict=True)
        if p.variant.value == "primary" and not p.holdout
    ]
    y, y_hat = zip(*primary, strict=True)

    def accuracy() -> float:
        return value(
            owners[0],
            "streamapp_model_metric",
            **model,
            variant="primary",
            holdout="false",
            window="count:100000",
            metric="accuracy",
        )

    # the window gauges refresh every monitoring.gauge_interval_s: wait for the last summary's
    wait_for(lambda: accuracy() == skm.accuracy_score(y, y_hat), what=f"accuracy {accuracy()}")
    wait_for(lambda: total("streamapp_retrain_requests_total", **model, reason="accuracy_drop") > 0)
    requests = read_topic(bootstrap, topic_settings.retrain_requests)
    assert len(requests) == 1
    assert total("streamapp_retrain_requests_total", **model, reason="accuracy_drop") == 1
    assert value(owners[0], "streamapp_retrain_incident_active", **model) == 1
    req = RetrainRequest.model_validate_json(requests[0])
    assert req.reason.value == "accuracy_drop" and req.idempotency_key == "agrawal-clf/1/incident-1"
    outcomes = consume_n(bootstrap, topic_settings.joined_outcomes, 300)
    ids = {JoinedOutcome.model_validate_json(m.value()).event_id for m in outcomes}
    assert ids == {p.event_id for p in preds}


def test_kill_9_mid_stream_recovers_held_predictions_and_counts(
    bootstrap: str, topic_settings: TopicSettings, monitors: Callable[..., Child]
) -> None:
    model = {"model": "agrawal-clf", "version": "1"}
    first = monitors()
    wait_ready(first)
    preds = predictions(200, seed=21)
    labels = labels_for(preds, correct=1.0, seed=22)
    produce_all(bootstrap, topic_settings.prediction_log, _records(preds))
    produce_all(bootstrap, topic_settings.labels, _records(labels[:80]))
    wait_for(lambda: value(first, "streamapp_outcomes_recorded", **model) == 80, what="80 joins")
    first.kill()  # the held predictions now live only in the changelog

    second = monitors()
    # Produce only once the survivor owns the partitions: faust can skip records it
    # fetched in a generation that a rebalance then discards (see docs/monitoring.md).
    wait_ready(second)
    produce_all(bootstrap, topic_settings.labels, _records(labels[80:] + labels[:40]))
    try:
        wait_for(lambda: value(second, "streamapp_outcomes_recorded", **model) == 200, what="200")
    except AssertionError:
        print(
            {k[0]: v for k, v in second.metrics().items() if "label" in k[0] or "outcome" in k[0]}
        )
        print(second.log_tail(5000))
        raise
    # labels 80..199 joined with predictions recovered from the join table's changelog;
    # the 40 re-sent labels are duplicates, and the persisted total did not double count
    wait_for(lambda: value(second, "streamapp_join_duplicates_total", kind="label") >= 40)
    joined_after_restart = sum(
        value(second, "streamapp_label_joins_total", **model, variant=v)
        for v in ("primary", "canary")
    )
    assert joined_after_restart == 120
    assert value(second, "streamapp_outcomes_recorded", **model) == 200
    outcomes = consume_n(bootstrap, topic_settings.joined_outcomes, 200)
    assert {JoinedOutcome.model_validate_json(m.value()).event_id for m in outcomes} == {
        p.event_id for p in preds
    }


def test_a_dead_owners_unfinished_checkpoint_is_never_applied_by_a_later_restore(
    bootstrap: str, topic_settings: TopicSettings, unique: str, monitors: Callable[..., Child]
) -> None:
    """Changelog writes after the last marker (a SIGKILLed owner's half-sent checkpoint) are
    voided by the next owner, so the restore after *that* owner's marker does not apply them."""
    model = {"model": "agrawal-clf", "version": "1"}
    preds = predictions(41, seed=41, prefix=f"orphan{unique}")
    labels = labels_for(preds, correct=1.0, seed=42)
    victim = preds[40].event_id

    def join(mon: Child, rows: slice) -> None:
        """Join ``rows`` (20 events reach every partition: each gets a new marker)."""
        wait_ready(mon)
        produce_all(bootstrap, topic_settings.prediction_log, _records(preds[rows]))
        produce_all(bootstrap, topic_settings.labels, _records(labels[rows]))
        want = rows.stop
        wait_for(lambda: value(mon, "streamapp_outcomes_recorded", **model) == want,
                 what=f"{want} outcomes")

    first = monitors()
    join(first, slice(0, 20))  # the changelog has a marker on every partition
    first.kill()
    changelog = f"mon-{unique}-join-changelog"
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "meta"})
    partitions = reader.list_topics(changelog, timeout=10).topics[changelog].partitions
    reader.close()
    # a dead owner's half-sent checkpoint: the victim already joined (on every partition)
    producer = Producer({"bootstrap.servers": bootstrap})
    for p in partitions:
        producer.produce(changelog, entry(JOINED, time.time() + 1e6), data_key(victim), partition=p)
    assert producer.flush(10) == 0

    second = monitors()  # an empty disk: restores from the changelog, skips the orphan
    join(second, slice(20, 40))  # ...and writes markers after it
    assert value(second, "streamapp_monitor_voided_writes_total") == len(partitions)
    second.kill()
    third = monitors()  # restores again: the victim must not come back as "already joined"
    join(third, slice(40, 41))
    assert value(third, "streamapp_join_duplicates_total", kind="prediction") == 0


def test_monitor_processes_one_command_a_killed_child_restarts_and_counts_stay_exact(
    bootstrap: str, topic_settings: TopicSettings, monitors: Callable[..., Child]
) -> None:
    """``monitoring.processes: 2``: one command, two workers in one group with their own state;
    kill -9 of one mid-traffic is restarted by the supervisor and every outcome counts once."""
    import psutil

    sup = monitors(STREAMAPP_MONITORING__PROCESSES="2",
                   STREAMAPP_MONITORING__RESTART_BACKOFF_S="0.2")
    assert sup.http_port is not None
    second = Child("monitor-1", [], None, sup.log_path, http_port=sup.http_port + 1)
    workers = [sup, second]  # children serve http.port and http.port + 1

    def all_ready() -> bool:
        return sup.ready() and second.get("/health/ready", 1.0)[0] == 200

    wait_for(all_ready, 120, "both monitor processes ready")
    assert sup.pid is not None
    pids = {p.pid for p in psutil.Process(sup.pid).children()}
    assert len(pids) == 2
    n = 4000
    preds = predictions(n, seed=21)
    labels = labels_for(preds, correct=0.9, seed=22)
    produce_all(bootstrap, topic_settings.prediction_log, _records(preds))
    produce_all(bootstrap, topic_settings.labels, _records(labels[: n // 2]))

    def recorded() -> float:
        """The policy agent's count (the one owner of the model's summaries partition holds
        the global view; a worker that owned it before a rebalance may show an older one)."""
        model = {"model": "agrawal-clf", "version": "1"}
        return max(value(w, "streamapp_outcomes_recorded", **model) for w in workers
                   if w.get("/metrics")[0] == 200)

    wait_for(lambda: recorded() > 0, 90, "first outcomes")
    psutil.Process(sorted(pids)[0]).kill()  # kill -9 one child mid-traffic
    produce_all(bootstrap, topic_settings.labels, _records(labels[n // 2 :]))
    wait_for(lambda: len({p.pid for p in psutil.Process(sup.pid).children()} - pids) == 1,
             30, "the killed child restarted")
    wait_for(all_ready, 120, "both monitor processes ready again")
    # Each summary writes one state-table record per (holdout, 10 s bucket) it touches, one
    # produce request each (control/app.py): on a loaded CI machine after the whole suite the
    # last summaries took minutes once. The history tells a stall (lost summary) from slowness.
    history: list[tuple[float, float]] = []
    started = time.monotonic()

    def converged() -> bool:
        count = recorded()
        if not history or history[-1][1] != count:
            history.append((round(time.monotonic() - started, 1), count))
        return count >= n

    try:
        wait_for(converged, 300, f"{n} outcomes")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; (seconds, count) history: {history}") from None
    time.sleep(2)  # nothing beyond the exact count may arrive
    assert recorded() == n
    assert "restarting" in sup.log_text()
    assert sup.stop() == 0  # SIGTERM: both children checkpoint and exit 0
    time.sleep(0.5)
    assert not [p for p in psutil.process_iter(["ppid"]) if p.info["ppid"] == sup.pid]
