"""An in-memory cluster for the monitor's join data plane, with crash markers.

:class:`InMemoryCluster` holds partitioned topics, committed group offsets and
topic ids that outlive the clients made from it, as a broker outlives a crashed
worker. Its clients speak the same interface as the Kafka connectors (the
:class:`~streamapp.scoring.ports.Source` and
:class:`~streamapp.scoring.ports.PartitionSink` ports, a changelog reader, the
cluster views), so ``JoinWorker(settings, join_io(cluster, settings))`` runs the
real join, checkpoint and restore code without a broker.

Markers in a partition's log drive recovery tests, as bytewax's ``TestingSource``
``EOF`` and ``ABORT`` do. Each fires once, for the first source that reaches it:

- :data:`ABORT` crashes the process: every client made so far dies at once (sinks
  drop what the cluster has not acknowledged, sources leave without a revoke)
  and :meth:`InMemoryTopicSource.fetch` raises :class:`Aborted`;
- :data:`EOF` ends the input there: once every partition is at its end or at an
  EOF, the source calls its ``on_end`` (for example ``stop_event.set``).

A source made after the crash starts from the group's committed offsets and
passes the markers that already fired.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from streamapp.kafka.commit import Ticket, TopicPartition
from streamapp.testing.fakes import InMemoryRecord

if TYPE_CHECKING:
    from streamapp.config import Settings
    from streamapp.monitoring.dataplane.origin import ClusterView
    from streamapp.monitoring.dataplane.ports import ChangelogRecord, ClusterViews, JoinIO

Hook = Callable[[list[TopicPartition]], None]


class Marker:
    """A control entry in a partition's log (occupies no offset); fires once."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fired = False

    def __repr__(self) -> str:
        return f"Marker({self.kind!r}, fired={self.fired})"


def ABORT() -> Marker:
    """A crash: the first source that reaches it kills every client of the cluster."""
    return Marker("abort")


def EOF() -> Marker:
    """The end of input for the first source that reaches it."""
    return Marker("eof")


class Aborted(RuntimeError):
    """The process crashed at an :func:`ABORT` marker (raised by the source's fetch)."""


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of a key: CRC-32, stable across processes (never ``hash()``).

    >>> partition_for(b"e-1", 4)
    0
    """
    return zlib.crc32(key) % partitions


Entry = InMemoryRecord | Marker


class InMemoryCluster:
    """Partitioned topics, group offsets and topic ids that outlive clients."""

    def __init__(self, partitions: int = 2, cluster_id: str = "in-memory",
                 lose_async_commits: bool = False) -> None:
        self.partitions = partitions
        self.cluster_id = cluster_id
        self.lose_async_commits = lose_async_commits
        """Drop every asynchronous offset commit (as if none reached the broker before a
        crash): a restart then replays input its store already holds."""
        self.logs: dict[str, list[list[Entry]]] = {}
        self.ends: dict[TopicPartition, int] = {}
        self.committed: dict[str, dict[TopicPartition, int]] = {}
        """Group id → committed next offsets."""
        self.clients: list[InMemoryTopicSource | InMemoryTopicSink] = []
        self.crashes = 0
        self._lock = threading.Lock()
        self._round_robin = 0

    # ---- topics ----------------------------------------------------------------------------
    def topic(self, name: str) -> list[list[Entry]]:
        """The partitions of ``name`` (created on first use)."""
        if name not in self.logs:
            self.logs[name] = [[] for _ in range(self.partitions)]
        return self.logs[name]

    def topic_id(self, name: str) -> str:
        return f"{self.cluster_id}/{name}"

    def produce(self, topic: str, key: bytes | None, value: bytes | None,
                partition: int | None = None, headers: Any = None) -> InMemoryRecord:
        """Append a record (to ``partition``, else the key's, else round-robin)."""
        with self._lock:
            if partition is None:
                if key is None:
                    partition, self._round_robin = self._round_robin, self._round_robin + 1
                    partition %= self.partitions
                else:
                    partition = partition_for(key, self.partitions)
            offset = self.ends.get((topic, partition), 0)
            record = InMemoryRecord(topic, partition, offset, key, value, headers)
            self.topic(topic)[partition].append(record)
            self.ends[(topic, partition)] = offset + 1
            return record

    def mark(self, topic: str, partition: int, marker: Marker) -> None:
        """Append a marker to a partition's log (it fires where it stands)."""
        self.topic(topic)[partition].append(marker)

    def records(self, topic: str) -> list[InMemoryRecord]:
        """Every record of ``topic``, partition by partition, in offset order."""
        return [e for part in self.logs.get(topic, []) for e in part
                if isinstance(e, InMemoryRecord)]

    def values(self, topic: str) -> list[bytes]:
        return [r.value() or b"" for r in self.records(topic)]

    def crash(self) -> None:
        """Kill every client made so far (what a SIGKILL does to one process)."""
        for client in self.clients:
            client.dead = True
        self.clients = []
        self.crashes += 1

    # ---- clients ---------------------------------------------------------------------------
    def source(self, topics: Sequence[str], group: str, max_batch: int | None = None,
               on_end: Callable[[], None] | None = None) -> InMemoryTopicSource:
        client = InMemoryTopicSource(self, list(topics), group, max_batch, on_end)
        self.clients.append(client)
        return client

    def sink(self, report_all: bool = True) -> InMemoryTopicSink:
        client = InMemoryTopicSink(self, report_all)
        self.clients.append(client)
        return client

    def read(self, topic: str, starts: dict[int, int], timeout_s: float
             ) -> Iterator[ChangelogRecord]:
        """The changelog reader port: records from ``starts`` to the ends as of the call."""
        if topic not in self.logs:
            raise RuntimeError(f"changelog {topic} does not exist")
        parts = self.logs[topic]
        snapshot = {p: list(parts[p]) for p in starts}
        for p, start in starts.items():
            for e in snapshot[p]:
                if isinstance(e, InMemoryRecord) and e.offset() >= start:
                    yield p, e.offset(), e.key(), e.value()

    def views(self, topics: Sequence[str]) -> ClusterViews:
        """The cluster-views port for ``topics`` (ids, ends per partition)."""
        from streamapp.monitoring.dataplane.origin import ClusterView

        def view(partitions: list[int]) -> dict[int, ClusterView]:
            ids = {t: self.topic_id(t) for t in topics if t in self.logs}
            return {p: ClusterView(self.cluster_id, ids,
                                   {t: self.ends.get((t, p), 0) for t in topics})
                    for p in partitions}
        return view


class InMemoryTopicSource:
    """A group member that owns every partition of its topics (one member per group)."""

    def __init__(self, cluster: InMemoryCluster, topics: list[str], group: str,
                 max_batch: int | None, on_end: Callable[[], None] | None) -> None:
        self.cluster, self.topics, self.group = cluster, topics, group
        self.max_batch, self.on_end = max_batch, on_end
        self.assigned: list[TopicPartition] = [
            (t, p) for t in topics for p in range(cluster.partitions)
        ]
        for t in topics:
            cluster.topic(t)
        committed = cluster.committed.setdefault(group, {})
        self.position = {tp: self._index(tp, committed.get(tp, 0)) for tp in self.assigned}
        """Per partition: the index of the next log entry to read."""
        self.paused = False
        self.dead = False
        self.ended = False
        self._hooks: tuple[Hook, Hook, Hook] | None = None
        self._announced = False

    def _index(self, tp: TopicPartition, offset: int) -> int:
        log = self.cluster.topic(tp[0])[tp[1]]
        for i, e in enumerate(log):
            if isinstance(e, InMemoryRecord) and e.offset() >= offset:
                return i
        return len(log)

    def subscribe(self, on_assign: Hook, on_revoke: Hook, on_lost: Hook) -> None:
        """Remember the hooks; the first :meth:`fetch` announces the assignment."""
        self._hooks = (on_assign, on_revoke, on_lost)

    def fetch(self, size: int, timeout_s: float, idle_s: float = 0.0) -> list[InMemoryRecord]:
        """Up to ``size`` (and ``max_batch``) records, round-robin over the partitions.

        Raises :class:`Aborted` at an unfired ABORT marker (the cluster crashes first).
        """
        if self.dead:
            raise Aborted("this client's process crashed")
        if not self._announced and self._hooks is not None:
            self._announced = True
            self._hooks[0](list(self.assigned))
        if self.paused:
            return []
        limit = min(size, self.max_batch or size)
        out: list[InMemoryRecord] = []
        open_tps = list(self.assigned)
        while len(out) < limit and open_tps:
            for tp in list(open_tps):
                entry = self._next(tp)
                if entry is None:
                    open_tps.remove(tp)
                    continue
                out.append(entry)
                if len(out) >= limit:
                    break
        if not out and not self.ended and all(self._at_end(tp) for tp in self.assigned):
            self.ended = True
            if self.on_end is not None:
                self.on_end()
        return out

    def _next(self, tp: TopicPartition) -> InMemoryRecord | None:
        log = self.cluster.topic(tp[0])[tp[1]]
        while self.position[tp] < len(log):
            entry = log[self.position[tp]]
            if isinstance(entry, InMemoryRecord):
                self.position[tp] += 1
                return entry
            if entry.fired:
                self.position[tp] += 1
                continue
            if entry.kind == "abort":
                entry.fired = True
                self.cluster.crash()
                raise Aborted(f"ABORT marker in {tp[0]}[{tp[1]}]")
            return None  # an EOF: the end of this partition's input
        return None

    def _at_end(self, tp: TopicPartition) -> bool:
        log = self.cluster.topic(tp[0])[tp[1]]
        i = self.position[tp]
        if i >= len(log):
            return True
        entry = log[i]
        if isinstance(entry, Marker) and entry.kind == "eof" and not entry.fired:
            entry.fired = True
            return True
        return False

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def commit(self, positions: dict[TopicPartition, int], asynchronous: bool = True) -> int:
        """Commit next offsets of assigned partitions (nothing after a crash; asynchronous
        ones are dropped with ``lose_async_commits``)."""
        if self.dead or (asynchronous and self.cluster.lose_async_commits):
            return 0
        mine = {tp: o for tp, o in positions.items() if tp in self.position}
        self.cluster.committed[self.group].update(mine)
        return len(mine)

    def group_metadata(self) -> Any:
        return None

    def lag(self) -> dict[TopicPartition, int]:
        out: dict[TopicPartition, int] = {}
        for tp in self.assigned:
            log = self.cluster.topic(tp[0])[tp[1]]
            out[tp] = sum(isinstance(e, InMemoryRecord) for e in log[self.position[tp]:])
        return out

    def close(self) -> None:
        """Leave the group: a final revoke runs inside (not after a crash)."""
        if not self.dead and self._announced and self._hooks is not None:
            self._hooks[1](list(self.assigned))
        self.dead = True


class InMemoryTopicSink:
    """Produces into the cluster on :meth:`poll` (the acknowledgement).

    ``report_all`` False reports only failures, as ``delivery.report.only.error``
    does; :meth:`idle` says when everything sent was acknowledged or reported.
    ``hold`` delays acknowledgements; ``fail_first`` fails that many deliveries.
    """

    def __init__(self, cluster: InMemoryCluster, report_all: bool = True,
                 fail_first: int = 0) -> None:
        self.cluster, self.report_all, self.fail_left = cluster, report_all, fail_first
        self.pending: list[tuple[Ticket[Any], str, bytes | None, bytes | None, Any,
                                 int | None]] = []
        self.hold = threading.Event()
        self.dead = False
        self._lock = threading.Lock()

    def send(
        self,
        ticket: Ticket[Any],
        records: Sequence[tuple[str, bytes | None, bytes | None, Any]] = (),
        columns: Sequence[tuple[str, Sequence[bytes | None], Sequence[bytes | None]]] = (),
        partition: int | None = None,
    ) -> None:
        out = [(ticket, t, k, v, h, partition) for t, k, v, h in records]
        for topic, keys, values in columns:
            out.extend((ticket, topic, k, v, None, partition)
                       for k, v in zip(keys, values, strict=True))
        if not self.dead:
            with self._lock:
                self.pending.extend(out)
        ticket.seal(len(out))

    def poll(self, timeout: float = 0.0) -> int:
        if self.dead or self.hold.is_set():
            return 0
        with self._lock:
            batch, self.pending = self.pending, []
        for ticket, topic, key, value, headers, partition in batch:
            if self.fail_left > 0:
                self.fail_left -= 1
                ticket.delivered("broker down", InMemoryRecord(topic, partition or 0, -1, key,
                                                               value, headers))
                continue
            record = self.cluster.produce(topic, key, value, partition, headers)
            if self.report_all:
                ticket.delivered(None, record)
        return len(batch)

    def idle(self) -> bool:
        return not self.pending

    def flush(self, timeout: float) -> int:
        self.poll()
        return len(self.pending)

    def commit_transaction(self, positions: dict[TopicPartition, int], group_metadata: Any,
                           timeout: float = 30.0) -> None:
        raise NotImplementedError("the join sinks are not transactional")

    def abort_transaction(self, timeout: float = 30.0) -> None:
        raise NotImplementedError("the join sinks are not transactional")


def join_io(cluster: InMemoryCluster, settings: Settings, max_batch: int | None = None,
            on_end: Callable[[], None] | None = None) -> JoinIO:
    """A join worker's ports over ``cluster``, named by ``settings`` (as
    :func:`~streamapp.monitoring.dataplane.kafka_io.kafka_join_io` does over Kafka)."""
    from streamapp.monitoring.dataplane.ports import JoinIO

    topics, mon = settings.topics, settings.monitoring
    inputs = [topics.prediction_log, topics.labels]
    cluster.topic(mon.changelog_topic)
    return JoinIO(
        source=cluster.source(inputs, mon.app_id, max_batch, on_end),
        outputs=cluster.sink(),
        epochs=(cluster.sink(report_all=False), cluster.sink(report_all=False)),
        changelog=cluster,
        views=cluster.views([*inputs, mon.changelog_topic]),
    )
