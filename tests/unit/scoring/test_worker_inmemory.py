"""The worker's at-least-once, exactly-once and backpressure logic over streamapp.testing fakes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.scoring.worker import ScoringWorker
from streamapp.testing import InMemorySink, InMemorySource
from tests.scoring_support import good_events

TOPIC = "events"


def _settings(registry: Path, **scoring: Any) -> Settings:
    return Settings(
        kafka={"bootstrap_servers": "unused:9092"},
        topics={"events": TOPIC},
        model={"registry": str(registry)},
        scoring={"max_batch_size": 64, **scoring},
    )


def _worker(settings: Settings, source: InMemorySource, sink: InMemorySink) -> ScoringWorker:
    return ScoringWorker(settings, source, sink, prometheus=CollectorRegistry())


def _run(worker: ScoringWorker, until: Callable[[], bool]) -> int:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(worker.run()), daemon=True)
    thread.start()
    waiter = threading.Event()
    for _ in range(2000):
        if until() or not thread.is_alive():
            break
        waiter.wait(0.01)
    worker.stop_event.set()
    thread.join(30)
    assert not thread.is_alive()
    return result[0]


@pytest.mark.parametrize("threads", [2, 0], ids=["scorer-pool", "inline"])
def test_commits_every_offset_after_acknowledgement(model_registry_dir: Path, threads: int) -> None:
    records = good_events(1000)
    source, sink = InMemorySource(records, 4, TOPIC), InMemorySink()
    worker = _worker(_settings(model_registry_dir, scorer_threads=threads), source, sink)
    preds = worker.settings.topics.predictions
    assert _run(worker, lambda: worker.inflight_events == 0 and len(
        {orjson.loads(v)["event_id"] for v in sink.values(preds)}) == 1000) == 0
    assert source.committed == {(TOPIC, p): 250 for p in range(4)}
    ids = [orjson.loads(v)["event_id"] for v in sink.values(preds)]
    assert sorted(ids) == sorted(k.decode() for k, _ in records)


def test_unacknowledged_work_is_never_committed_and_pauses_the_source(
    model_registry_dir: Path,
) -> None:
    source, sink = InMemorySource(good_events(2000), 4, TOPIC), InMemorySink()
    sink.hold.set()  # the broker never acknowledges
    settings = _settings(model_registry_dir, max_inflight_events=300, drain_timeout_s=0.2)
    worker = _worker(settings, source, sink)
    assert _run(worker, lambda: source.paused) == 0
    assert source.pause_count >= 1
    assert source.committed == {}
    assert 300 <= worker.inflight_events <= 300 + 64


@pytest.mark.parametrize("threads", [2, 0], ids=["scorer-pool", "inline"])
def test_a_failed_delivery_is_fatal_and_never_committed(
    model_registry_dir: Path, threads: int
) -> None:
    # librdkafka's idempotent producer retried it already: the worker stops on it.
    source = InMemorySource(good_events(200), 4, TOPIC)
    worker = _worker(_settings(model_registry_dir, scorer_threads=threads), source,
                     InMemorySink(fail_first=5))
    assert _run(worker, lambda: worker.fatal is not None) == 1
    assert "undeliverable within delivery.timeout.ms (broker down)" in str(worker.fatal)
    assert worker.metrics.delivery_errors.labels(
        topic=worker.settings.topics.predictions)._value.get() >= 1
    assert sum(source.committed.values()) < 200

    broken_source = InMemorySource(good_events(50), 4, TOPIC)
    broken = _worker(_settings(model_registry_dir), broken_source,
                     InMemorySink(always_fail=True))
    assert _run(broken, lambda: broken.fatal is not None) == 1
    assert broken_source.committed == {}


def test_exactly_once_commits_offsets_in_transactions(model_registry_dir: Path) -> None:
    source, sink = InMemorySource(good_events(400), 4, TOPIC), InMemorySink()
    settings = _settings(model_registry_dir, processing_guarantee="exactly_once")
    worker = _worker(settings, source, sink)
    assert _run(worker, lambda: sum(sink.committed.values()) == 400) == 0
    assert sink.transactions >= 1 and sink.aborted == 0
    assert source.committed == {}  # offsets go through the transaction, not the consumer


def test_lost_partitions_abort_the_exactly_once_transaction(model_registry_dir: Path) -> None:
    source, sink = InMemorySource(good_events(100), 4, TOPIC), InMemorySink()
    settings = _settings(model_registry_dir, processing_guarantee="exactly_once")
    worker = _worker(settings, source, sink)
    assert _run(worker, lambda: worker.ready) == 0
    worker.commits.lost([(TOPIC, 0)])
    assert sink.aborted == 1 and worker.fatal is not None
    assert (TOPIC, 0) not in worker.commits.owned
