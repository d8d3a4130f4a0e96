"""The join checkpoint: numbered steps that make the join's work durable, one in flight.

The store, the changelog, the outputs and the input offsets of a join partition
move together from one checkpoint to the next. :class:`Checkpointer` runs the
steps without stopping the consume loop; a checkpoint is sealed by the timer
(:meth:`Checkpointer.seal`, steps 1-2) and then advanced by every pass of the
loop as far as its deliveries allow (:meth:`Checkpointer.advance`, steps 3-6):

1. **seal**: close the write sets of the dirty partitions (still readable, new
   writes go to a fresh set), fold their results into summaries, and switch the
   epoch: the next interval's outcomes and dead letters go to the other
   producer, so this checkpoint's records are acknowledged once its producer is
   idle (no delivery report per record);
2. **produce changelogs**: the sealed writes of each partition to its changelog
   partition, on the checkpoint's producer;
3. **flush**: wait until every summary sent before the seal (a report per
   record) is acknowledged and the checkpoint's producer is idle (its outcomes,
   dead letters and changelog writes acknowledged);
4. **commit point**: produce a *marker* (offsets, watermark, held counts,
   summaries) on each changelog partition and wait for its acknowledgement; a
   restore applies the writes before a marker and discards the ones after the
   last (:mod:`.partition`);
5. **flush stores**: write each partition's sealed set, its expiry index and the
   marker's metadata to RocksDB in one batch; count the results (once durable);
6. **emit and commit offsets**: send the summaries (acknowledged by the next
   checkpoint's step 3) and commit the consumer offsets (informational: the
   store's offsets are the truth; a failed commit is logged).

Failures: a delivery that fails after the idempotent producer's own retries
raises :class:`~streamapp.kafka.sink.DeliveryFailed` at step 3 or 4; nothing
of that checkpoint reaches the store, the worker stops and the next owner
replays the inputs from the previous checkpoint. A crash before step 5 does the
same (outcomes may be sent again; state, counts and summaries are not); its
changelog writes without a marker are voided by the next owner. A crash after
step 5 re-emits that checkpoint's summaries at restore (they travel in the
marker), which the control plane applies once (by sequence number).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamapp.kafka.commit import Ticket, TopicPartition, delivery_failure
from streamapp.metrics.monitoring import JoinMetrics
from streamapp.monitoring.dataplane.fold import Folder
from streamapp.monitoring.dataplane.join import JoinResult
from streamapp.monitoring.dataplane.partition import Meta, PartitionState
from streamapp.monitoring.dataplane.store import META_KEY
from streamapp.scoring.ports import PartitionSink, Source, Tombstone
from streamapp.statistics.summary import Summary

log = logging.getLogger(__name__)

Durable = Callable[[PartitionState, JoinResult], None]
"""Runs at step 5 for each partition whose checkpoint is in its store (metrics, gauges)."""


def _ignore(_ticket: Ticket[None]) -> None:
    return None


def ticket() -> Ticket[None]:
    """A ticket that only counts acknowledgements (no input offsets, no payload)."""
    return Ticket({}, 0, 0, _ignore)


class MarkerTicket(Ticket[None]):
    """A ticket that also remembers the last acknowledged offset per partition."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        super().__init__({}, 0, 0, _ignore)
        self.last: dict[int, int] = {}

    def delivered(self, err: Any, msg: Any) -> None:
        if err is None:
            self.last[msg.partition()] = max(self.last.get(msg.partition(), -1), msg.offset())
        super().delivered(err, msg)


def acked(tickets: list[Ticket[Any]]) -> bool:
    """All acknowledged? A failed delivery is final (the idempotent producer retried it):
    raises :class:`~streamapp.kafka.sink.DeliveryFailed`."""
    done = True
    for t in tickets:
        if t.failed:
            raise delivery_failure(t)
        done = done and t.done
    return done


@dataclass
class Checkpoint:
    """A sealed checkpoint on its way to durability (steps 3-6 left)."""

    started: float
    outputs: list[Ticket[Any]]
    """Summaries sent before the seal (acknowledged per record)."""
    writes: list[Ticket[Any]]
    """Outcomes, dead letters and the changelog writes (on ``sink``, failures reported only)."""
    sink: PartitionSink
    """The producer of ``writes``; nothing else is sent on it until this checkpoint commits."""
    parts: dict[int, PartitionState] = field(default_factory=dict)
    metas: dict[int, Meta] = field(default_factory=dict)
    results: dict[int, JoinResult] = field(default_factory=dict)
    summaries: list[Summary] = field(default_factory=list)
    markers: dict[int, MarkerTicket] | None = None
    """Per changelog partition, once step 4 produced them."""

    def flushed(self) -> bool:
        """Step 3 done? Raises on a failed delivery (final, see :func:`acked`)."""
        if not acked(self.outputs):
            return False
        for t in self.writes:
            if t.failed:
                raise delivery_failure(t)
        return self.sink.idle()

    def drop(self, partitions: list[int]) -> None:
        """Forget ``partitions`` (lost before their marker was produced): no marker is sent
        for them, their writes are discarded by the next restore."""
        for p in partitions:
            self.parts.pop(p, None)
            self.metas.pop(p, None)
            self.results.pop(p, None)
        self.summaries = [s for s in self.summaries if s.partition in self.parts]


class Checkpointer:
    """Runs the checkpoint protocol of one join worker (main thread only).

    ``outputs`` reports every delivery (markers, voids, summaries); ``epochs``
    carry outcomes, dead letters and changelog writes, one per checkpoint in turn.
    ``owned`` is the worker's live partition map: a partition lost while its
    checkpoint was in flight is not written to a store it no longer owns.
    """

    def __init__(
        self,
        source: Source,
        outputs: PartitionSink,
        epochs: tuple[PartitionSink, PartitionSink],
        folder: Folder,
        changelog: str,
        summaries_topic: str,
        metrics: JoinMetrics,
        owned: dict[int, PartitionState],
        durable: Durable,
    ) -> None:
        self.source, self.outputs, self.epochs = source, outputs, epochs
        self.folder, self.changelog, self.summaries_topic = folder, changelog, summaries_topic
        self.metrics, self.owned, self.durable = metrics, owned, durable
        self.epoch = 0
        self.tickets: list[Ticket[Any]] = []
        """Summaries sent since the last seal."""
        self.written: list[Ticket[Any]] = []
        """Outcomes and dead letters sent since the last seal (on the current epoch's sink)."""
        self.inflight: Checkpoint | None = None

    # ---- what the loop sends between checkpoints -------------------------------------------
    def send(self, records: list[Tombstone], columns: list[tuple[str, list[bytes | None],
                                                                 list[bytes | None]]]) -> None:
        """Outcomes and dead letters of one joined batch (durable with the next checkpoint)."""
        t = ticket()
        self.epochs[self.epoch].send(t, records, columns=columns)
        self.written.append(t)

    def emit(self, summaries: list[Summary]) -> None:
        """Send summaries (acknowledged by the next checkpoint's step 3)."""
        if not summaries:
            return
        t = ticket()
        topic = self.summaries_topic
        self.outputs.send(t, [(topic, s.key, s.to_json(), None) for s in summaries])
        self.tickets.append(t)
        self.metrics.summaries.inc(len(summaries))

    def poll(self, timeout: float) -> None:
        """Serve delivery reports of every producer (``timeout`` on the one reporting all)."""
        for quiet in self.epochs:
            quiet.poll(0)
        self.outputs.poll(timeout)

    # ---- steps -----------------------------------------------------------------------------
    def seal(self, parts: list[PartitionState]) -> None:
        """Steps 1 and 2 for the dirty ones of ``parts`` (no checkpoint may be in flight)."""
        todo = [p for p in parts if p.dirty()]
        if not todo:
            return
        # No checkpoint is in flight: the other epoch's sink is idle (its checkpoint committed).
        cp = Checkpoint(time.perf_counter(), self.tickets, self.written, self.epochs[self.epoch])
        self.tickets, self.written, self.epoch = [], [], 1 - self.epoch
        for part in todo:  # step 1
            pend = part.pending
            seq = part.meta.seq + 1
            summaries = self.folder.fold(
                part.partition, seq, pend.first_seen, pend.joined, pend.expired, pend.pairs
            )
            cp.summaries.extend(summaries)
            held = dict(part.held)
            for kind, delta in pend.held_delta().items():
                held[kind] = held.get(kind, 0) + delta
            meta = Meta(seq, dict(part.consumed), part.event_time, held,
                        [s.to_json().decode() for s in summaries],
                        cluster=part.meta.cluster, topic_ids=part.meta.topic_ids)
            p = part.partition
            cp.parts[p], cp.metas[p], cp.results[p] = part, meta, pend
            # part.meta is the newest sealed checkpoint; the store's is the newest durable one
            part.meta, part.held, part.pending = meta, dict(held), JoinResult()
            part.store.seal()
            sealed = part.store.sealed or {}
            if sealed:  # step 2
                t = ticket()
                cp.sink.send(
                    t, columns=[(self.changelog, list(sealed), list(sealed.values()))],
                    partition=p,
                )
                cp.writes.append(t)
        self.inflight = cp

    def advance(self) -> None:
        """Steps 3-6 of the checkpoint in flight, as far as its deliveries allow."""
        cp = self.inflight
        if cp is None:
            return
        if cp.markers is None:
            if not cp.flushed():  # step 3
                return
            cp.markers = {}  # step 4
            for p, meta in cp.metas.items():
                marker = cp.markers[p] = MarkerTicket()
                self.outputs.send(marker, [(self.changelog, META_KEY, meta.to_json(), None)],
                                  partition=p)
        if not acked(list(cp.markers.values())):
            return
        self.inflight = None
        done: list[PartitionState] = []
        for p, part in cp.parts.items():  # step 5
            if self.owned.get(p) is not part:
                continue  # lost meanwhile: the next owner restores from the changelog
            meta = cp.metas[p]
            meta.changelog_next = cp.markers[p].last[p] + 1
            part.store.write_sealed(meta.to_json())
            part.durable_held = dict(meta.held)
            self.durable(part, cp.results[p])
            done.append(part)
        self.emit(cp.summaries)  # step 6
        self._commit({(t, part.partition): o for part in done
                      for t, o in cp.metas[part.partition].offsets.items()}, asynchronous=True)
        self.metrics.checkpoint.observe(time.perf_counter() - cp.started)

    def finish(self) -> None:
        """Wait until the checkpoint in flight is committed (raises as :meth:`advance`)."""
        while self.inflight is not None:
            self.poll(0.01)
            self.advance()

    def checkpoint(self, parts: list[PartitionState]) -> None:
        """Make the work of ``parts`` durable now (rebalance, shutdown): waits for the
        checkpoint in flight, then seals ``parts`` and waits for that one too."""
        self.finish()
        self.seal(parts)
        self.finish()

    def revoke(self, parts: list[PartitionState]) -> None:
        """Checkpoint ``parts`` and commit their offsets synchronously (they are leaving)."""
        self.checkpoint(parts)
        self._commit({(t, part.partition): o for part in parts
                      for t, o in part.meta.offsets.items()}, asynchronous=False)

    def lose(self, parts: list[PartitionState]) -> None:
        """``parts`` were lost without a revoke: a checkpoint in flight sends no marker for
        them if it has not yet; if the markers are out, it is waited for, so a later restore
        here cannot miss a marker still on its way."""
        cp = self.inflight
        if cp is not None and cp.markers is None:
            cp.drop([part.partition for part in parts])
        elif cp is not None and any(part.partition in cp.parts for part in parts):
            self.finish()

    def void(self, part: PartitionState, keys: list[bytes]) -> None:
        """Overwrite a previous owner's unmarked changelog writes with the restored values
        and mark them, so no later restore applies them (see :mod:`.partition`).

        Waits for the acknowledgements; a failed delivery raises (the worker stops and
        the next owner voids them)."""
        if not keys:
            return
        p = part.partition
        values = [None if v is None else bytes(v) for v in part.store.db.get(keys)]
        writes = ticket()
        self.outputs.send(writes, columns=[(self.changelog, keys, values)], partition=p)
        marker = MarkerTicket()
        self.outputs.send(marker, [(self.changelog, META_KEY, part.meta.to_json(), None)],
                          partition=p)
        while not acked([writes, marker]):
            self.outputs.poll(0.01)
        part.meta.changelog_next = marker.last[p] + 1
        part.store.commit(part.meta.to_json())
        self.metrics.voided.inc(len(keys))

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush every producer (shutdown)."""
        for sink in (self.outputs, *self.epochs):
            sink.flush(timeout_s)

    def _commit(self, positions: dict[TopicPartition, int], asynchronous: bool) -> None:
        try:
            self.source.commit(positions, asynchronous=asynchronous)
        except Exception as exc:  # the store's offsets are the truth; the next commit carries it
            log.warning("offset commit failed: %s", exc)
