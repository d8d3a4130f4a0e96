"""Commit policies: when acknowledged input offsets are committed, and with what.

:class:`AtLeastOnce` commits the end of each partition's acknowledged prefix
asynchronously every ``commit_interval_ms`` (synchronously on revoke and at
shutdown); a crash replays at most the uncommitted batches. :class:`ExactlyOnce`
instead finishes every in-flight batch and commits outputs + offsets in one
Kafka transaction; any failure aborts it and stops the worker (its restart
replays from the last committed offsets). Both own the set of partitions the
worker holds (updated by the rebalance hooks), never the source's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from streamapp.kafka.commit import TopicPartition
from streamapp.metrics.scoring import ScoringMetrics
from streamapp.scoring.ledger import InFlightLedger
from streamapp.scoring.ports import Fault, Sink, Source

log = logging.getLogger(__name__)

REFRESH_S = 2.0
"""How often unchanged positions are committed again (asynchronous commits can fail unseen)."""

Drain = Callable[[Callable[[], bool], float], bool]
"""``drain(busy, timeout)``: serve deliveries until ``busy()`` is false; True when drained."""


class AtLeastOnce:
    """Commit positions of acknowledged prefixes; nothing unacknowledged is ever committed."""

    def __init__(
        self, source: Source, sink: Sink, ledger: InFlightLedger, metrics: ScoringMetrics,
        fault: Fault, drain: Drain, interval_s: float, drain_timeout_s: float,
    ) -> None:
        self.source, self.sink, self.ledger, self.metrics = source, sink, ledger, metrics
        self.fault, self.drain = fault, drain
        self.interval_s, self.drain_timeout_s = interval_s, drain_timeout_s
        self.owned: set[TopicPartition] = set()
        self.committed: dict[TopicPartition, int] = {}
        self.pending: dict[TopicPartition, int] = {}
        self._last = 0.0
        self._refreshed = 0.0

    def settled(self, tp: TopicPartition, last: int) -> bool:
        """Offset ``last`` of ``tp`` is committed, or ``tp`` is no longer ours."""
        return tp not in self.owned or self.committed.get(tp, -1) > last

    def tick(self, now: float) -> None:
        """Main loop: commit what moved every interval; every :data:`REFRESH_S` re-send all.

        An asynchronous commit can fail unseen (a stale generation mid-rebalance);
        re-sending the unchanged positions makes an idle partition's commit land too.
        """
        if now - self._last >= self.interval_s:
            self._last = now
            refresh = now - self._refreshed >= REFRESH_S
            if refresh:
                self._refreshed = now
            self.commit(asynchronous=True, refresh=refresh)

    def commit(self, asynchronous: bool = True, refresh: bool = False) -> None:
        """Commit what moved (synchronously or with ``refresh``: every owned position).

        A commit that raises (e.g. mid-rebalance) is carried to the next one.
        """
        self.pending.update(self.ledger.positions())
        every = refresh or not asynchronous
        todo = {tp: o for tp, o in {**self.committed, **self.pending}.items()
                if tp in self.owned and (every or self.committed.get(tp) != o)}
        self.pending.clear()
        if todo:
            try:
                if self.source.commit(todo, asynchronous=asynchronous):
                    self.metrics.commits.inc()
                self.committed.update(todo)
            except Exception as exc:  # the next commit carries these positions
                log.warning("commit failed (will retry): %s", exc)
                self.pending.update(todo)
        self.ledger.release(self.settled)

    def assigned(self, tps: Iterable[TopicPartition]) -> None:
        """Rebalance hook: these partitions are ours now."""
        self.owned.update(tps)

    def revoked(self, tps: list[TopicPartition]) -> bool:
        """Rebalance hook: finish the revoked partitions' batches, commit them, let go.

        Returns whether every batch finished within ``drain_timeout_s``; what did
        not is left for the new owner to replay.
        """
        drained = self.drain(lambda: self.ledger.pending(tps) > 0, self.drain_timeout_s)
        self.pending.update(self.ledger.positions())
        gone = set(tps)
        revoked = {tp: o for tp, o in {**self.committed, **self.pending}.items() if tp in gone}
        if revoked:
            try:
                self.source.commit(revoked, asynchronous=False)
                self.metrics.commits.inc()
            except Exception as exc:
                log.warning("commit on revoke failed: %s", exc)
        self._drop(tps)
        return drained

    def lost(self, tps: list[TopicPartition]) -> None:
        """Rebalance hook: partitions lost without a revoke; nothing is committed for them."""
        self._drop(tps)

    def _drop(self, tps: list[TopicPartition]) -> None:
        for tp in tps:
            self.pending.pop(tp, None)
            self.committed.pop(tp, None)
            self.owned.discard(tp)
        self.ledger.forget(tps)
        self.ledger.release(self.settled)


class ExactlyOnce(AtLeastOnce):
    """Outputs and offsets in one transaction per commit interval."""

    def commit(self, asynchronous: bool = True, refresh: bool = False) -> None:
        """Drain every in-flight batch, then commit the transaction with the positions.

        A batch that does not finish within ``drain_timeout_s``, or a commit that
        fails, aborts the transaction and sets the fault (the worker exits 1).
        """
        if self.fault.error is not None:  # never commit after a failure: the restart replays
            return
        if not self.drain(lambda: self.ledger.busy, self.drain_timeout_s):
            self.fault.set(RuntimeError("in-flight batches did not finish; transaction aborted"))
            self.sink.abort_transaction()
            return
        self.pending.update(self.ledger.positions())
        todo = {tp: o for tp, o in self.pending.items() if tp in self.owned}
        self.pending.clear()
        try:
            self.sink.commit_transaction(todo, self.source.group_metadata())
        except Exception as exc:  # KafkaException: aborted when it could be
            log.error("transaction commit failed: %s", exc)
            self.fault.set(exc)
            return
        if todo:
            self.metrics.commits.inc()
        self.committed.update(todo)
        self.ledger.release(self.settled)

    def revoked(self, tps: list[TopicPartition]) -> bool:
        """The open transaction commits while the partitions are still ours, then let go."""
        self.commit()
        return super().revoked(tps)

    def lost(self, tps: list[TopicPartition]) -> None:
        """The open transaction holds outputs of lost partitions: abort it and stop (exit 1)."""
        if self.fault.error is None:
            self.sink.abort_transaction()
            self.fault.set(RuntimeError(f"partitions {sorted(p for _, p in tps)} lost "
                                        "mid-transaction"))
        super().lost(tps)
