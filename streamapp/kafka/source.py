"""The scoring source: a confluent-kafka consumer with batch fetch, pause/resume and lag.

Cooperative-sticky assignment, manual commits, no auto offset store. Rebalance
callbacks run inside :meth:`fetch` on the caller's thread and are forwarded to
the worker's hooks (``on_assign`` / ``on_revoke`` / ``on_lost``), which finish
or drop in-flight work of revoked partitions and commit what was delivered.
Lag is computed from the high-water mark carried in fetch responses
(``get_watermark_offsets(cached=True)``), never ListOffsets (wrong on Tansu).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message
from confluent_kafka import TopicPartition as KafkaTP

from streamapp.kafka.client_logs import with_client_logging
from streamapp.kafka.commit import TopicPartition

log = logging.getLogger(__name__)

PartitionsHook = Callable[[list[TopicPartition]], None]


class KafkaSource:
    """Subscribes to one or more topics; pauses every assigned partition under backpressure.

    The monitor subscribes to two co-partitioned topics with the ``range``
    assignor (eager), which gives partition p of both topics to one member.
    """

    def __init__(
        self,
        conf: dict[str, Any],
        topic: str | list[str],
        on_assign: PartitionsHook,
        on_revoke: PartitionsHook,
        on_lost: PartitionsHook,
    ) -> None:
        self.topics = [topic] if isinstance(topic, str) else list(topic)
        self.cooperative = "cooperative" in str(
            conf.get("partition.assignment.strategy", "cooperative-sticky")
        )
        self.topic = self.topics[0]
        self.consumer = Consumer(
            with_client_logging(
                {
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "partition.assignment.strategy": "cooperative-sticky",
                    "enable.partition.eof": False,
                    "fetch.wait.max.ms": 10,
                    **conf,
                }
            )
        )
        self.assigned: set[TopicPartition] = set()
        self.paused = False
        self._hooks = (on_assign, on_revoke, on_lost)
        self.consumer.subscribe(
            self.topics, on_assign=self._assign, on_revoke=self._revoke, on_lost=self._lost
        )

    def fetch(self, size: int, timeout_s: float) -> list[Message]:
        """Up to ``size`` records within ``timeout_s``; broker errors are logged and skipped."""
        msgs = self.consumer.consume(size, timeout_s)
        if msgs and any(m.error() is not None for m in msgs):
            good = []
            for m in msgs:
                err = m.error()
                if err is None:
                    good.append(m)
                elif err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", err)
            return good
        return msgs

    def pause(self) -> None:
        """Stop fetching from every assigned partition (backpressure high watermark)."""
        self.paused = True
        if self.assigned:
            self.consumer.pause([KafkaTP(t, p) for t, p in self.assigned])

    def resume(self) -> None:
        """Fetch again (below the low watermark)."""
        self.paused = False
        if self.assigned:
            self.consumer.resume([KafkaTP(t, p) for t, p in self.assigned])

    def commit(self, positions: dict[TopicPartition, int], asynchronous: bool = True) -> int:
        """Commit next-offset positions of partitions still assigned; returns how many."""
        offsets = [KafkaTP(t, p, o) for (t, p), o in positions.items() if (t, p) in self.assigned]
        if offsets and asynchronous:
            self.consumer.commit(offsets=offsets, asynchronous=True)
        elif offsets:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        return len(offsets)

    def lag(self) -> dict[TopicPartition, int]:
        """Per assigned partition: cached fetch high-water mark - consumed position."""
        out: dict[TopicPartition, int] = {}
        tps = [KafkaTP(t, p) for t, p in sorted(self.assigned)]
        if not tps:
            return out
        for tp in self.consumer.position(tps):
            try:
                _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            except Exception:  # noqa: S112 - no fetch response yet for this partition
                continue
            if high < 0:
                continue
            pos = tp.offset if tp.offset >= 0 else high
            out[(tp.topic, tp.partition)] = max(0, high - pos)
        return out

    def close(self) -> None:
        """Leave the group (triggers a final revoke) and close."""
        self.consumer.close()

    def _assign(self, _consumer: Consumer, partitions: list[KafkaTP]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        self.assigned.update(tps)
        self._hooks[0](tps)
        if self.paused and partitions:
            # librdkafka assigns after this callback returns; pause right after that.
            if self.cooperative:
                self.consumer.incremental_assign(partitions)
            else:
                self.consumer.assign(partitions)
            self.consumer.pause(partitions)

    def _revoke(self, _consumer: Consumer, partitions: list[KafkaTP]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        self._hooks[1](tps)
        self.assigned.difference_update(tps)

    def _lost(self, _consumer: Consumer, partitions: list[KafkaTP]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        self._hooks[2](tps)
        self.assigned.difference_update(tps)
