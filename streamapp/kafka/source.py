"""The scoring source: a confluent-kafka consumer with batch fetch, pause/resume and lag.

Cooperative-sticky assignment, manual commits, no auto offset store. Rebalance
callbacks run inside :meth:`fetch` on the caller's thread and are forwarded to
the worker's hooks (``on_assign`` / ``on_revoke`` / ``on_lost``), which finish
or drop in-flight work of revoked partitions and commit what was delivered.
Lag is the partition's end offset (ListOffsets, queried without blocking the
loop) minus the consumed position.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message
from confluent_kafka import TopicPartition as KafkaTP
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from streamapp.kafka.client_logs import with_client_logging
from streamapp.kafka.commit import TopicPartition
from streamapp.kafka.health import ConnectionHealth

log = logging.getLogger(__name__)

PartitionsHook = Callable[[list[TopicPartition]], None]
_ADMIN_KEYS = ("bootstrap.servers", "client.id", "security.protocol")


class KafkaSource:
    """Subscribes to one or more topics; pauses every assigned partition under backpressure.

    The monitor subscribes to two co-partitioned topics with the ``range``
    assignor (eager), which gives partition p of both topics to one member.
    """

    def __init__(
        self,
        conf: dict[str, Any],
        topic: str | list[str],
        on_assign: PartitionsHook | None = None,
        on_revoke: PartitionsHook | None = None,
        on_lost: PartitionsHook | None = None,
        health: ConnectionHealth | None = None,
    ) -> None:
        """Create the consumer; with all three hooks, subscribe at once (else call
        :meth:`subscribe` later, e.g. from the worker that owns the hooks). ``health``
        is fed by the consumer's errors and statistics."""
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
                    "socket.nagle.disable": True,  # TCP_NODELAY, as for the producer
                    **conf,
                },
                health,
            )
        )
        self.assigned: set[TopicPartition] = set()
        self.paused = False
        self._admin_conf = {
            k: v for k, v in conf.items() if k in _ADMIN_KEYS or k.startswith(("ssl.", "sasl."))
        }
        self._admin: AdminClient | None = None
        self._end_offsets: dict[TopicPartition, int] = {}
        self._pending_ends: dict[KafkaTP, Any] = {}
        self._hooks: tuple[PartitionsHook, PartitionsHook, PartitionsHook] | None = None
        if on_assign is not None and on_revoke is not None and on_lost is not None:
            self.subscribe(on_assign, on_revoke, on_lost)

    def subscribe(
        self, on_assign: PartitionsHook, on_revoke: PartitionsHook, on_lost: PartitionsHook
    ) -> None:
        """Join the group; the hooks run inside :meth:`fetch` on rebalances (once per source)."""
        self._hooks = (on_assign, on_revoke, on_lost)
        self.consumer.subscribe(
            self.topics, on_assign=self._assign, on_revoke=self._revoke, on_lost=self._lost
        )

    def fetch(self, size: int, timeout_s: float, idle_s: float = 0.0) -> list[Message]:
        """Up to ``size`` records within ``timeout_s``; broker errors are logged and skipped.

        ``consume`` waits the whole ``timeout_s`` unless ``size`` records arrive.
        With ``idle_s`` > ``timeout_s``, a fetch that found nothing waits for the
        first record up to ``idle_s`` in all and returns at once with it and what
        else is queued then: with ``timeout_s`` 0 no record waits for a batch to
        fill, yet an idle loop does not spin.
        """
        msgs = self.consumer.consume(size, timeout_s)
        if not msgs and idle_s > timeout_s:
            first = self.consumer.poll(idle_s - timeout_s)
            if first is not None:
                msgs = [first, *self.consumer.consume(size - 1, 0)] if size > 1 else [first]
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

    def group_metadata(self) -> Any:
        """The consumer group metadata a transactional producer commits offsets with."""
        return self.consumer.consumer_group_metadata()

    def lag(self) -> dict[TopicPartition, int]:
        """Per assigned partition: end offset - consumed position (from the latest answer).

        End offsets come from ListOffsets requests sent by an admin client without
        blocking: each call returns what the previous query answered and sends the
        next one. Before the first answer, the high-water mark cached from fetch
        responses stands in.
        """
        self._query_end_offsets()
        out: dict[TopicPartition, int] = {}
        tps = [KafkaTP(t, p) for t, p in sorted(self.assigned)]
        if not tps:
            return out
        for tp in self.consumer.position(tps):
            key = (tp.topic, tp.partition)
            high = self._end_offsets.get(key)
            if high is None:
                try:
                    _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
                except Exception:  # noqa: S112 - no fetch response yet for this partition
                    continue
            if high is None or high < 0:
                continue
            pos = tp.offset if tp.offset >= 0 else high
            out[key] = max(0, high - pos)
        return out

    def _query_end_offsets(self) -> None:
        """Collect the answers of the last ListOffsets query and send the next one."""
        pending, self._pending_ends = self._pending_ends, {}
        for tp, future in pending.items():
            if not future.done():
                self._pending_ends[tp] = future
                continue
            try:
                self._end_offsets[(tp.topic, tp.partition)] = int(future.result().offset)
            except Exception as exc:  # a failed query: keep the last value
                log.debug("end offset of %s unavailable: %s", tp, exc)
        if self._pending_ends or not self.assigned:
            return
        if self._admin is None:
            self._admin = AdminClient(with_client_logging(dict(self._admin_conf)))
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        request = {KafkaTP(t, p): latest for t, p in self.assigned}
        self._pending_ends = self._admin.list_offsets(request, request_timeout=5)

    def close(self) -> None:
        """Leave the group (triggers a final revoke) and close."""
        self.consumer.close()
        self._pending_ends = {}
        self._admin = None

    def _assign(self, _consumer: Consumer, partitions: list[KafkaTP]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        self.assigned.update(tps)
        if self._hooks is not None:
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
        if self._hooks is not None:
            self._hooks[1](tps)
        self._forget(tps)

    def _lost(self, _consumer: Consumer, partitions: list[KafkaTP]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        if self._hooks is not None:
            self._hooks[2](tps)
        self._forget(tps)

    def _forget(self, tps: list[TopicPartition]) -> None:
        self.assigned.difference_update(tps)
        for tp in tps:
            self._end_offsets.pop(tp, None)
