"""What the scoring worker needs from its input and output: the Source and Sink protocols.

The worker takes both in its constructor; :mod:`streamapp.scoring.kafka_io`
builds the Kafka ones (``KafkaSource`` / ``KafkaSink`` fit structurally) and
:mod:`streamapp.testing.fakes` ships in-memory ones for tests. The monitor's
join data plane runs on the same ports: a :class:`Source` over its two input
topics, and :class:`PartitionSink` s (a :class:`Sink` that can also address one
partition, for its changelog, and say when everything sent was reported).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from streamapp.kafka.commit import Ticket, TopicPartition
from streamapp.scoring.decode import Record

PartitionsHook = Callable[[list[TopicPartition]], None]
Single = tuple[str, bytes | None, bytes, Any]
"""(topic, key, value, headers): one record."""


class TopicBatch(NamedTuple):
    """Records for one topic without headers, produced as one batch (keys aligned with values)."""

    topic: str
    keys: Sequence[bytes | None]
    values: Sequence[bytes]


class Source(Protocol):
    """Batches of input records, partitions assigned by a group, pause/resume, commits."""

    paused: bool

    def subscribe(
        self, on_assign: PartitionsHook, on_revoke: PartitionsHook, on_lost: PartitionsHook
    ) -> None:
        """Start; the hooks run inside :meth:`fetch` (the worker's main thread) on rebalances."""

    def fetch(self, size: int, timeout_s: float, idle_s: float = 0.0) -> Sequence[Record]:
        """Up to ``size`` records within ``timeout_s`` (each also has ``len()``: value bytes).

        Nothing there after ``timeout_s``: wait up to ``idle_s`` in all for the first
        record, then return it with whatever else is queued.
        """
        ...

    def pause(self) -> None:
        """Stop fetching from every assigned partition."""

    def resume(self) -> None:
        """Fetch again."""

    def commit(self, positions: dict[TopicPartition, int], asynchronous: bool = True) -> int:
        """Commit next-offset positions of partitions still assigned; returns how many."""
        ...

    def group_metadata(self) -> Any:
        """Consumer group metadata for a transactional commit (exactly-once only)."""

    def lag(self) -> dict[TopicPartition, int]:
        """Records behind the end, per assigned partition (for the lag gauge)."""
        ...

    def close(self) -> None:
        """Leave the group (a final revoke runs inside) and release the client."""


class Sink(Protocol):
    """Produces a ticket's outputs; deliveries complete the ticket in :meth:`poll`'s thread."""

    def send(
        self,
        ticket: Ticket[Any],
        records: Sequence[Single] = (),
        columns: Sequence[TopicBatch] = (),
    ) -> None:
        """Produce every output of ``ticket`` and seal it (scorer threads)."""

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery callbacks (main loop)."""
        ...

    def flush(self, timeout: float) -> int:
        """Wait for outstanding deliveries; returns how many are still queued."""
        ...

    def commit_transaction(
        self, positions: dict[TopicPartition, int], group_metadata: Any, timeout: float = 30.0
    ) -> None:
        """exactly_once: commit outputs and ``positions`` atomically, open the next transaction."""

    def abort_transaction(self, timeout: float = 30.0) -> None:
        """exactly_once: drop the open transaction's outputs."""


Tombstone = tuple[str, bytes | None, bytes | None, Any]
"""(topic, key, value or None, headers): one record; a None value deletes the key."""


class PartitionSink(Sink, Protocol):
    """A :class:`Sink` that can address one partition (a changelog) and produce tombstones."""

    def send(
        self,
        ticket: Ticket[Any],
        records: Sequence[Tombstone] = (),
        columns: Sequence[tuple[str, Sequence[bytes | None], Sequence[bytes | None]]] = (),
        partition: int | None = None,
    ) -> None:
        """As :meth:`Sink.send`; ``partition`` sends every record there (else the key picks)."""

    def idle(self) -> bool:
        """Every record sent so far was acknowledged or its failure reported by :meth:`poll`."""
        ...


class Fault:
    """The first fatal error of a worker; once set, nothing more is committed."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def set(self, exc: BaseException) -> None:
        """Record ``exc`` unless an earlier error is already recorded (any thread)."""
        if self.error is None:
            self.error = exc
