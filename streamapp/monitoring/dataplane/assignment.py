"""Which join partitions a worker owns: the rebalance hooks and the stores' health.

The hooks run inside the source's ``fetch``, on the worker's thread. Partition
p of prediction-log and labels arrive together (the ``range`` assignor on
co-partitioned topics); the join state of p is its store, restored from the
changelog at assignment (:mod:`.partition`) and checkpointed when it leaves.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from streamapp.kafka.commit import TopicPartition
from streamapp.metrics.monitoring import JoinMetrics
from streamapp.monitoring.dataplane.accounting import Accounting
from streamapp.monitoring.dataplane.checkpoint import Checkpointer
from streamapp.monitoring.dataplane.join import now_utc
from streamapp.monitoring.dataplane.partition import PartitionState, Restored, open_partitions
from streamapp.monitoring.dataplane.ports import ChangelogReader, ClusterViews
from streamapp.statistics.summary import Summary

log = logging.getLogger(__name__)


class Assignment:
    """The partitions of one join worker (``parts``), opened, checkpointed and closed by the
    group's rebalances."""

    def __init__(
        self,
        state_dir: Path,
        options: Any,
        changelog_topic: str,
        reader: ChangelogReader,
        views: ClusterViews,
        checkpoints: Checkpointer,
        accounting: Accounting,
        metrics: JoinMetrics,
    ) -> None:
        self.state_dir, self.options, self.changelog_topic = state_dir, options, changelog_topic
        self.reader, self.views = reader, views
        self.checkpoints, self.accounting, self.metrics = checkpoints, accounting, metrics
        self.parts: dict[int, PartitionState] = checkpoints.owned
        self.stores: dict[int, dict[str, Any]] = {}
        """Per owned partition: how its store was opened (heartbeats, ``streamapp status``)."""
        self.ready = False

    def on_assign(self, tps: list[TopicPartition]) -> None:
        """Open (and restore) the stores of newly assigned partitions; re-emit their summaries.

        Asks the cluster first what the stores must belong to (its id, the topic ids,
        the partitions' ends): a store that cannot belong to it is rebuilt, never
        used to skip input (:mod:`.partition`). Blocks until every store caught up
        with its changelog and the previous owner's unmarked writes are voided; a
        restore that cannot finish raises and stops the worker (the group reassigns).
        """
        new = sorted({p for _, p in tps} - set(self.parts))
        started = time.perf_counter()
        opened = open_partitions(
            {p: self.state_dir / str(p) for p in new}, self.options, self.reader,
            self.changelog_topic, self.views(new) if new else {},
        )
        if new:
            self.metrics.restore.observe(time.perf_counter() - started)
        for p, found in opened.items():
            part = found.state
            self.checkpoints.void(part, found.orphans)
            self.parts[p] = part
            self.checkpoints.emit([Summary.from_json(s.encode()) for s in part.meta.summaries])
            self.accounting.gauges(part)
            self._opened(found)
            log.info("join partition %d ready at checkpoint %d (from %s, held=%s)",
                     p, part.meta.seq, found.source, part.held,
                     extra={"partition": p, "seq": part.meta.seq, "source": found.source})
        self.ready = True

    def on_revoke(self, tps: list[TopicPartition]) -> None:
        """Checkpoint the revoked partitions, commit their offsets, close their stores."""
        gone = self._owned(tps)
        self.checkpoints.revoke(gone)
        self._close(gone)

    def on_lost(self, tps: list[TopicPartition]) -> None:
        """Partitions lost without a revoke: drop unsaved work; the next owner replays it
        (:meth:`~.checkpoint.Checkpointer.lose`)."""
        lost = self._owned(tps)
        self.checkpoints.lose(lost)
        self._close(lost)

    def close(self) -> None:
        """Close every store still open (shutdown, after the source left the group)."""
        for part in self.parts.values():
            part.store.close()
        self.ready = False

    def store_health(self) -> list[dict[str, Any]]:
        """How each owned partition's store was opened (any thread: a copy)."""
        return [dict(row) for row in list(self.stores.values())]

    def _owned(self, tps: list[TopicPartition]) -> list[PartitionState]:
        return [self.parts[p] for p in sorted({p for _, p in tps}) if p in self.parts]

    def _opened(self, found: Restored) -> None:
        """Count discarded checkpoints and record the store's health for the heartbeat."""
        for store, why in found.discarded.items():
            self.metrics.store_discarded.labels(why.reason.value, store).inc()
        p = found.state.partition
        self.stores[p] = {
            "partition": p,
            "health": "rebuilt" if found.discarded else "ok",
            "source": found.source,
            "discarded": "; ".join(f"{store} {why.reason.value} ({why.detail})"
                                   for store, why in found.discarded.items()) or None,
            "seq": found.state.meta.seq,
            "opened_at": now_utc().isoformat(timespec="seconds"),
        }

    def _close(self, parts: list[PartitionState]) -> None:
        for part in parts:
            part.store.close()
            del self.parts[part.partition]
            self.stores.pop(part.partition, None)
        if not self.parts:
            self.ready = False
