"""The worker's at-least-once and backpressure logic with an in-memory source and sink."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.kafka.commit import Ticket
from streamapp.kafka.sink import DeliveryFailed
from streamapp.scoring.worker import ScoringWorker
from tests.scoring_support import good_events

TOPIC = "events"


class Msg:
    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None,
                 value: bytes) -> None:
        self._t, self._p, self._o, self._k, self._v = topic, partition, offset, key, value

    def value(self) -> bytes:
        return self._v

    def key(self) -> bytes | None:
        return self._k

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def headers(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._v)


class FakeSource:
    def __init__(self, records: list[tuple[bytes, bytes]], partitions: int,
                 on_assign: Callable[[list[tuple[str, int]]], None]) -> None:
        self.queues: dict[int, list[Msg]] = {p: [] for p in range(partitions)}
        for i, (k, v) in enumerate(records):
            q = self.queues[i % partitions]
            q.append(Msg(TOPIC, i % partitions, len(q), k, v))
        self.assigned = {(TOPIC, p) for p in range(partitions)}
        self.paused = False
        self.pause_count = 0
        self.committed: dict[tuple[str, int], int] = {}
        self._on_assign = on_assign
        self._announced = False

    def fetch(self, size: int, timeout_s: float) -> list[Msg]:
        if not self._announced:
            self._announced = True
            self._on_assign(sorted(self.assigned))
        if self.paused:
            threading.Event().wait(min(timeout_s, 0.005))
            return []
        out: list[Msg] = []
        for q in self.queues.values():
            take, q[:] = q[: size - len(out)], q[size - len(out):]
            out.extend(take)
        if not out:
            threading.Event().wait(min(timeout_s, 0.005))
        return out

    def pause(self) -> None:
        self.paused = True
        self.pause_count += 1

    def resume(self) -> None:
        self.paused = False

    def commit(self, positions: dict[tuple[str, int], int], asynchronous: bool = True) -> int:
        self.committed.update(positions)
        return len(positions)

    def lag(self) -> dict[tuple[str, int], int]:
        return {}

    def close(self) -> None:
        return None


class FakeSink:
    """Acknowledges on poll; ``hold`` delays acks, ``fail_first`` fails that many deliveries."""

    def __init__(self, fail_first: int = 0, always_fail: bool = False) -> None:
        self.pending: list[tuple[Ticket, Msg]] = []
        self.delivered: list[Msg] = []
        self.hold = threading.Event()
        self.fail_left = fail_first
        self.always_fail = always_fail
        self.lock = threading.Lock()

    def send(self, ticket: Ticket, records: list[Any]) -> None:
        with self.lock:
            for topic, key, value, _headers in records:
                self.pending.append((ticket, Msg(topic, 0, 0, key, value)))
        ticket.seal(len(records))

    def poll(self, timeout: float = 0.0) -> int:
        if self.hold.is_set():
            return 0
        with self.lock:
            batch, self.pending = self.pending, []
        for ticket, msg in batch:
            if self.always_fail or self.fail_left > 0:
                self.fail_left -= 1
                ticket.delivered("broker down", msg)
            else:
                self.delivered.append(msg)
                ticket.delivered(None, msg)
        return len(batch)

    def retry(self, ticket: Ticket) -> list[str]:
        failed, ticket.failed = ticket.failed, []
        ticket.retries += 1
        if ticket.retries > 3:
            raise DeliveryFailed("undeliverable")
        with self.lock:
            self.pending.extend((ticket, m) for m in failed)
        return [m.topic() for m in failed]

    def flush(self, timeout: float) -> int:
        self.poll()
        return 0


class InMemoryWorker(ScoringWorker):
    def __init__(self, settings: Settings, records: list[tuple[bytes, bytes]],
                 sink: FakeSink) -> None:
        super().__init__(settings, "unused:9092", registry=CollectorRegistry())
        self.fake_source = FakeSource(records, settings.topics.partitions, self._on_assign)
        self.fake_sink = sink

    def _make_sink(self, conf: dict[str, Any]) -> Any:
        return self.fake_sink

    def _make_source(self, conf: dict[str, Any]) -> Any:
        return self.fake_source


def _settings(registry: Path, **scoring: Any) -> Settings:
    return Settings(
        kafka={"bootstrap_servers": "unused:9092"},
        topics={"events": TOPIC},
        model={"registry": str(registry)},
        scoring={"max_batch_size": 64, **scoring},
    )


def _run(worker: InMemoryWorker, until: Callable[[], bool]) -> int:
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


def test_commits_every_offset_after_acknowledgement(model_registry_dir: Path) -> None:
    records = good_events(1000)
    sink = FakeSink()
    worker = InMemoryWorker(_settings(model_registry_dir), records, sink)
    assert _run(worker, lambda: worker.inflight_events == 0 and len(
        {m.key() for m in sink.delivered if m.topic().endswith("predictions")}) == 1000) == 0
    assert worker.fake_source.committed == {(TOPIC, p): 250 for p in range(4)}
    preds = [orjson.loads(m.value()) for m in sink.delivered
             if m.topic() == worker.settings.topics.predictions]
    assert sorted(p["event_id"] for p in preds) == sorted(k.decode() for k, _ in records)


def test_unacknowledged_work_is_never_committed_and_pauses_the_source(
    model_registry_dir: Path,
) -> None:
    records = good_events(2000)
    sink = FakeSink()
    sink.hold.set()  # the broker never acknowledges
    worker = InMemoryWorker(_settings(model_registry_dir, max_inflight_events=300),
                            records, sink)
    worker.cfg = worker.cfg.model_copy(update={"drain_timeout_s": 0.2})
    assert _run(worker, lambda: worker.fake_source.paused) == 0
    assert worker.fake_source.pause_count >= 1
    assert worker.fake_source.committed == {}
    assert 300 <= worker.inflight_events <= 300 + 64


def test_failed_deliveries_are_retried_then_fatal(model_registry_dir: Path) -> None:
    records = good_events(200)
    sink = FakeSink(fail_first=5)
    worker = InMemoryWorker(_settings(model_registry_dir), records, sink)
    assert _run(worker, lambda: sum(worker.fake_source.committed.values()) == 200) == 0
    assert worker.metrics.delivery_errors.labels(
        topic=worker.settings.topics.predictions)._value.get() >= 1

    broken = InMemoryWorker(_settings(model_registry_dir), good_events(50), FakeSink(
        always_fail=True))
    assert _run(broken, lambda: broken.fatal is not None) == 1
    assert broken.fake_source.committed == {}
