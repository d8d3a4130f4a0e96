"""The join data plane's Kafka wiring: its ports over one cluster (confluent-kafka).

The inputs are read by a :class:`~streamapp.kafka.source.KafkaSource` with the
``range`` assignor (eager), which gives partition p of the two co-partitioned
input topics to one member; outputs go through three idempotent
:class:`~streamapp.kafka.sink.KafkaSink` s (one reporting every delivery, two
reporting only failures, one per checkpoint in turn: :mod:`.checkpoint`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicCollection
from confluent_kafka import TopicPartition as KafkaTP
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from streamapp.config import Settings
from streamapp.kafka.client_logs import with_client_logging
from streamapp.kafka.health import ConnectionHealth
from streamapp.kafka.sink import KafkaSink
from streamapp.kafka.source import KafkaSource
from streamapp.monitoring.dataplane.origin import ClusterView
from streamapp.monitoring.dataplane.ports import ChangelogRecord, JoinIO

VIEW_TIMEOUT_S = 30.0
"""How long assignment waits for the cluster id, topic ids and end offsets."""
_MISSING = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION,
            KafkaError._UNKNOWN_TOPIC)


class KafkaChangelogReader:
    """Reads changelog partitions to their ends with one assigned consumer per call."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = {**conf, "enable.auto.commit": False, "enable.partition.eof": True,
                     "auto.offset.reset": "earliest"}

    def read(self, topic: str, starts: dict[int, int], timeout_s: float
             ) -> Iterator[ChangelogRecord]:
        """See :class:`~.ports.ChangelogReader`; the end is where the broker reports EOF."""
        if not starts:
            return
        consumer = Consumer(self.conf)
        consumer.assign([KafkaTP(topic, p, o) for p, o in starts.items()])
        pending = set(starts)
        deadline = time.monotonic() + timeout_s
        try:
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"changelog {topic} {sorted(pending)} not read to its end")
                for msg in consumer.consume(10_000, 0.1):
                    p = int(msg.partition() or 0)
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            pending.discard(p)
                        elif err.code() in _MISSING:
                            raise RuntimeError(f"changelog {topic}[{p}] does not exist: {err}")
                        continue
                    yield p, int(msg.offset() or 0), msg.key(), msg.value()
        finally:
            consumer.close()


class KafkaClusterViews:
    """:func:`cluster_view` of the join's input and changelog topics."""

    def __init__(self, conf: dict[str, Any], topics: tuple[str, ...],
                 timeout_s: float = VIEW_TIMEOUT_S) -> None:
        self.conf, self.topics, self.timeout_s = conf, topics, timeout_s

    def __call__(self, partitions: list[int]) -> dict[int, ClusterView]:
        return cluster_view(self.conf, self.topics, partitions, self.timeout_s)


def kafka_join_io(settings: Settings, bootstrap: str, health: ConnectionHealth | None = None
                  ) -> JoinIO:
    """The join worker's ports over the cluster at ``bootstrap``; ``health`` is fed by the
    input consumer's errors and statistics. The consumer joins the group when the worker
    subscribes (in its thread)."""
    mon, topics = settings.monitoring, settings.topics
    conf = settings.kafka.librdkafka(bootstrap)
    quiet = {**conf, "delivery.report.only.error": True}
    source = KafkaSource(
        {
            **conf,
            "group.id": mon.app_id,
            "partition.assignment.strategy": "range",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": mon.session_timeout_ms,
            "heartbeat.interval.ms": mon.heartbeat_interval_ms,
            "fetch.wait.max.ms": 50,
        },
        [topics.prediction_log, topics.labels], health=health,
    )
    return JoinIO(
        source=source,
        outputs=KafkaSink(conf, poll_when_full=True),
        epochs=(KafkaSink(quiet, poll_when_full=True), KafkaSink(quiet, poll_when_full=True)),
        changelog=KafkaChangelogReader({**conf, "group.id": f"{mon.app_id}-restore"}),
        views=KafkaClusterViews(conf, (topics.prediction_log, topics.labels,
                                       mon.changelog_topic)),
    )


def cluster_view(
    conf: Mapping[str, Any], topics: Iterable[str], partitions: Iterable[int], timeout_s: float,
) -> dict[int, ClusterView]:
    """Ask the cluster for its id, the ids of ``topics`` and their ends per partition.

    Every topic must exist: one not yet visible (just created, metadata still
    spreading) is asked for again until ``timeout_s``; then the last
    ``KafkaException`` is raised, as for any failed request.
    """
    parts, names = sorted(set(partitions)), sorted(set(topics))
    if not parts:
        return {}
    admin = AdminClient(with_client_logging(dict(conf)))
    cluster = str(admin.describe_cluster(request_timeout=timeout_s).result().cluster_id or "")
    ids = _topic_ids(admin, names, timeout_s)
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    request = {KafkaTP(t, p): latest for t in names for p in parts}
    ends: dict[int, dict[str, int]] = {p: {} for p in parts}
    for tp, future in admin.list_offsets(request, request_timeout=timeout_s).items():
        ends[tp.partition][tp.topic] = int(future.result().offset)
    return {p: ClusterView(cluster, ids, ends[p]) for p in parts}


def _topic_ids(admin: AdminClient, names: list[str], timeout_s: float) -> dict[str, str]:
    ids: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        todo = [n for n in names if n not in ids]
        futures = admin.describe_topics(TopicCollection(todo), request_timeout=timeout_s)
        failed: Exception | None = None
        for name, future in futures.items():
            try:
                ids[name] = str(future.result().topic_id)
            except KafkaException as exc:
                failed = exc
        if failed is None:
            return ids
        if time.monotonic() > deadline:
            raise failed
        time.sleep(0.2)
