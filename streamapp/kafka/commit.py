"""Delivery tickets and the contiguous-offset tracker behind at-least-once commits.

A :class:`Ticket` covers the input records of one fetched batch: it counts the
output records produced for them (predictions, log records, dead letters) and
their broker acknowledgements. :class:`OffsetTracker` keeps, per partition, the
fetched offset ranges in fetch order and advances the committable position only
over a prefix of ranges whose tickets are fully acknowledged. Pure Python: no
Kafka client, no model runtime.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

TopicPartition = tuple[str, int]


P = TypeVar("P")


class Ticket(Generic[P]):
    """Acknowledgement bookkeeping of one input batch, with a typed ``payload`` of its layer.

    ``expected`` is set (and ``seal`` called) by the thread that produced the
    outputs; ``delivered`` runs in the thread that polls the producer. Whichever
    sees the last piece calls ``on_done`` exactly once. ``payload`` is whatever
    the layer above needs once the batch is acknowledged (the scoring worker
    stores a :class:`~streamapp.scoring.outcome.BatchOutcome`).
    """

    __slots__ = (
        "_lock", "_notified", "acked", "error", "events", "expected", "failed", "nbytes", "on_done",
        "payload", "sealed", "segments", "started",
    )

    def __init__(
        self,
        segments: dict[TopicPartition, tuple[int, int]],
        events: int,
        nbytes: int,
        on_done: Callable[[Ticket[P]], None],
        started: float = 0.0,
    ) -> None:
        self.segments = segments
        """(topic, partition) → (first offset, last offset) of this batch's input records."""
        self.events = events
        self.nbytes = nbytes
        self.on_done = on_done
        self.started = started
        self.expected = 0
        self.acked = 0
        self.sealed = False
        self.failed: list[Any] = []
        """Messages whose delivery failed (after the producer's own retries)."""
        self.error: Any = None
        """The first delivery error."""
        self.payload: P | None = None
        self._notified = False
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        """All outputs produced and acknowledged."""
        return self.sealed and self.acked >= self.expected

    def seal(self, expected: int) -> None:
        """Every output of the batch has been handed to the producer."""
        self.expected = expected
        self.sealed = True
        self._maybe_notify()

    def delivered(self, err: Any, msg: Any) -> None:
        """Producer delivery callback for one output record."""
        if err is not None:
            self.error = self.error or err
            self.failed.append(msg)
            return
        self.acked += 1
        if self.sealed and self.acked >= self.expected:
            self._maybe_notify()

    def _maybe_notify(self) -> None:
        with self._lock:
            if self._notified or not self.done:
                return
            self._notified = True
        self.on_done(self)


class DeliveryFailed(RuntimeError):
    """A record was not delivered within ``delivery.timeout.ms``; the worker stops without
    committing it."""


def delivery_failure(ticket: Ticket[Any]) -> DeliveryFailed:
    """The error for a ticket whose deliveries failed; its failed messages are cleared.

    librdkafka already retried them (idempotent producer): producing them again could
    only reorder them, so the failure is final.
    """
    failed, ticket.failed = ticket.failed, []
    return DeliveryFailed(
        f"{len(failed)} records undeliverable within delivery.timeout.ms ({ticket.error}); "
        "nothing of their batch is committed"
    )


class OffsetTracker:
    """Per partition: fetched ranges in order; commit position = end of the acknowledged prefix."""

    def __init__(self) -> None:
        self._ranges: dict[TopicPartition, deque[tuple[int, Ticket[Any]]]] = {}
        self._position: dict[TopicPartition, int] = {}

    def add(self, ticket: Ticket[Any]) -> None:
        """Register a fetched batch (call in fetch order)."""
        for tp, (_first, last) in ticket.segments.items():
            self._ranges.setdefault(tp, deque()).append((last, ticket))

    def advance(self) -> dict[TopicPartition, int]:
        """Positions (next offset to read) that moved since the last call."""
        moved: dict[TopicPartition, int] = {}
        for tp, ranges in self._ranges.items():
            last = None
            while ranges and ranges[0][1].done:
                last = ranges.popleft()[0]
            if last is not None:
                self._position[tp] = last + 1
                moved[tp] = last + 1
        return moved

    def position(self, tp: TopicPartition) -> int | None:
        """The committable position of a partition, if any range was acknowledged."""
        return self._position.get(tp)

    def pending(self, tps: Iterable[TopicPartition]) -> int:
        """How many fetched ranges of ``tps`` are not yet acknowledged."""
        return sum(len(self._ranges.get(tp, ())) for tp in tps)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Drop state of partitions no longer assigned."""
        for tp in tps:
            self._ranges.pop(tp, None)
            self._position.pop(tp, None)
