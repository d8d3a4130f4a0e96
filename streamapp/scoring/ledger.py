"""The in-flight ledger: every fetched batch from fetch until its offsets are committed.

One :class:`~streamapp.kafka.commit.Ticket` per batch. A ticket is *open* until
all its outputs are acknowledged, then *acknowledged* until the commit policy
says its offsets are committed (or its partitions are no longer ours); only
then do its events and bytes stop counting against the backpressure watermarks.
Main-loop only, except :meth:`_done`, which delivery callbacks call.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from streamapp.kafka.commit import OffsetTracker, Ticket, TopicPartition
from streamapp.scoring.decode import Record
from streamapp.scoring.outcome import BatchOutcome

BatchTicket = Ticket[BatchOutcome]
Settled = Callable[[TopicPartition, int], bool]
"""``settled(tp, last_offset)``: that offset is committed, or the partition is not ours."""


class InFlightLedger:
    """Open and acknowledged tickets, and the events / bytes they hold."""

    def __init__(self) -> None:
        self.tracker = OffsetTracker()
        self.open: set[BatchTicket] = set()
        self.acked: list[BatchTicket] = []
        self.events = 0
        self.bytes = 0
        self._completed: deque[BatchTicket] = deque()

    def add(self, records: Sequence[Record]) -> BatchTicket:
        """Register a fetched batch (fetch order) and return its ticket.

        Segments come from C-level passes: ``map`` over the record class's
        accessors, and two ``dict`` builds that keep each partition's last and
        first offset (offsets increase within a partition).
        """
        cls: Any = type(records[0]) if records else object
        tps = list(zip(map(cls.topic, records), map(cls.partition, records), strict=True))
        offsets = list(map(cls.offset, records))
        last = dict(zip(tps, offsets, strict=True))
        first = dict(zip(reversed(tps), reversed(offsets), strict=True))
        segments: dict[TopicPartition, tuple[int, int]] = {
            tp: (first[tp], off) for tp, off in last.items()
        }
        nbytes = sum(map(len, records))  # type: ignore[arg-type]  # Message and fakes have __len__
        ticket: BatchTicket = Ticket(segments, len(records), nbytes, self._completed.append,
                                     time.monotonic())
        self.tracker.add(ticket)
        self.open.add(ticket)
        self.events += ticket.events
        self.bytes += nbytes
        return ticket

    @property
    def busy(self) -> bool:
        """Some batch still has unacknowledged outputs."""
        return bool(self.open)

    def failed(self) -> list[BatchTicket]:
        """Open tickets with failed deliveries to produce again."""
        return [t for t in self.open if t.failed]

    def reap(self) -> list[BatchTicket]:
        """Tickets acknowledged since the last call (they now wait for their commit)."""
        done: list[BatchTicket] = []
        while self._completed:
            ticket = self._completed.popleft()
            self.open.discard(ticket)
            self.acked.append(ticket)
            done.append(ticket)
        return done

    def positions(self) -> dict[TopicPartition, int]:
        """Committable positions that moved (end of each partition's acknowledged prefix)."""
        return self.tracker.advance()

    def pending(self, tps: Iterable[TopicPartition]) -> int:
        """Batches holding records of ``tps`` whose outputs are not all acknowledged yet.

        Counts open tickets (updated by :meth:`reap`), not the offset tracker's
        ranges, which only shrink when positions are collected.
        """
        wanted = set(tps)
        return sum(1 for t in self.open if not wanted.isdisjoint(t.segments))

    def release(self, settled: Settled) -> None:
        """Stop counting acknowledged tickets whose every segment is settled."""
        keep: list[BatchTicket] = []
        for ticket in self.acked:
            if all(settled(tp, last) for tp, (_first, last) in ticket.segments.items()):
                self.events -= ticket.events
                self.bytes -= ticket.nbytes
            else:
                keep.append(ticket)
        self.acked = keep

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Drop the offset ranges of partitions no longer ours."""
        self.tracker.forget(tps)
