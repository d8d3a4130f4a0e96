"""In-memory sources and sinks for testing code that runs a scoring worker, without a broker.

``ScoringWorker(settings, InMemorySource(records), InMemorySink())`` runs the
real decode → score → produce → commit path over Python lists: the source
serves records round-robin over ``partitions`` and records commits; the sink
acknowledges on :meth:`InMemorySink.poll` and can hold or fail deliveries.
:mod:`streamapp.testing.cluster` has partitioned topics that outlive their
clients, for the monitor's join data plane and crash-and-replay tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from streamapp.kafka.commit import Ticket, TopicPartition

Hook = Callable[[list[TopicPartition]], None]


class InMemoryRecord:
    """A Kafka-like record (the methods ``confluent_kafka.Message`` has that streamapp uses)."""

    __slots__ = ("_h", "_k", "_o", "_p", "_t", "_v")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None,
                 value: bytes | None, headers: Any = None) -> None:
        self._t, self._p, self._o, self._k, self._v = topic, partition, offset, key, value
        self._h = headers

    def value(self) -> bytes | None:
        return self._v

    def key(self) -> bytes | None:
        return self._k

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def headers(self) -> Any:
        return self._h

    def __len__(self) -> int:
        return len(self._v or b"")


class InMemorySource:
    """``(key, value)`` records spread round-robin over ``partitions``; all of them assigned."""

    def __init__(self, records: Sequence[tuple[bytes | None, bytes | None]], partitions: int = 4,
                 topic: str = "events") -> None:
        self.queues: dict[int, list[InMemoryRecord]] = {p: [] for p in range(partitions)}
        for i, (k, v) in enumerate(records):
            q = self.queues[i % partitions]
            q.append(InMemoryRecord(topic, i % partitions, len(q), k, v))
        self.assigned = {(topic, p) for p in range(partitions)}
        self.paused = False
        self.pause_count = 0
        self.committed: dict[TopicPartition, int] = {}
        self._hooks: tuple[Hook, Hook, Hook] | None = None
        self._announced = False

    def subscribe(self, on_assign: Hook, on_revoke: Hook, on_lost: Hook) -> None:
        """Remember the hooks; the first :meth:`fetch` announces the assignment."""
        self._hooks = (on_assign, on_revoke, on_lost)

    def fetch(self, size: int, timeout_s: float, idle_s: float = 0.0) -> list[InMemoryRecord]:
        if not self._announced and self._hooks is not None:
            self._announced = True
            self._hooks[0](sorted(self.assigned))
        if self.paused:
            threading.Event().wait(min(timeout_s, 0.005))
            return []
        out: list[InMemoryRecord] = []
        for q in self.queues.values():
            take, q[:] = q[: size - len(out)], q[size - len(out):]
            out.extend(take)
        if not out:
            threading.Event().wait(min(max(timeout_s, idle_s), 0.005))
        return out

    def pause(self) -> None:
        self.paused = True
        self.pause_count += 1

    def resume(self) -> None:
        self.paused = False

    def commit(self, positions: dict[TopicPartition, int], asynchronous: bool = True) -> int:
        self.committed.update(positions)
        return len(positions)

    def group_metadata(self) -> Any:
        return None

    def lag(self) -> dict[TopicPartition, int]:
        return {tp: len(self.queues[tp[1]]) for tp in self.assigned}

    def close(self) -> None:
        return None


class InMemorySink:
    """Acknowledges on :meth:`poll`; ``hold`` delays acks, ``fail_first`` fails that many
    (a failed delivery is final, as with the idempotent :class:`~streamapp.kafka.sink.KafkaSink`).

    ``delivered`` lists every acknowledged record; ``transactions`` counts
    committed transactions (exactly-once), whose offsets land in ``committed``.
    """

    def __init__(self, fail_first: int = 0, always_fail: bool = False) -> None:
        self.pending: list[tuple[Ticket[Any], InMemoryRecord]] = []
        self.delivered: list[InMemoryRecord] = []
        self.hold = threading.Event()
        self.fail_left = fail_first
        self.always_fail = always_fail
        self.committed: dict[TopicPartition, int] = {}
        self.transactions = 0
        self.aborted = 0
        self._lock = threading.Lock()

    def send(
        self,
        ticket: Ticket[Any],
        records: Sequence[tuple[str, bytes | None, bytes, Any]] = (),
        columns: Sequence[tuple[str, Sequence[bytes | None], Sequence[bytes]]] = (),
    ) -> None:
        out = [InMemoryRecord(t, 0, 0, k, v) for t, k, v, _h in records]
        for topic, keys, values in columns:
            out.extend(InMemoryRecord(topic, 0, 0, k, v) for k, v in zip(keys, values, strict=True))
        with self._lock:
            self.pending.extend((ticket, m) for m in out)
        ticket.seal(len(out))

    def poll(self, timeout: float = 0.0) -> int:
        if self.hold.is_set():
            return 0
        with self._lock:
            batch, self.pending = self.pending, []
        for ticket, msg in batch:
            if self.always_fail or self.fail_left > 0:
                self.fail_left -= 1
                ticket.delivered("broker down", msg)
            else:
                self.delivered.append(msg)
                ticket.delivered(None, msg)
        return len(batch)

    def flush(self, timeout: float) -> int:
        self.poll()
        return len(self.pending)

    def commit_transaction(self, positions: dict[TopicPartition, int], group_metadata: Any,
                           timeout: float = 30.0) -> None:
        self.committed.update(positions)
        self.transactions += 1

    def abort_transaction(self, timeout: float = 30.0) -> None:
        self.aborted += 1

    def values(self, topic: str) -> list[bytes]:
        """Acknowledged values of ``topic``, in delivery order."""
        return [m.value() or b"" for m in self.delivered if m.topic() == topic]
