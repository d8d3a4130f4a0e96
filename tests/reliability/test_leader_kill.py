"""A 3-node Apache Kafka cluster (replication factor 3, min.insync.replicas=2, acks=all): the
leader of an input partition is SIGKILLed while the worker scores. Nothing is lost; the
stall (the longest gap between consecutive predictions) is measured."""

from __future__ import annotations

import itertools
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from streamapp.brokers import ApacheKafka
from streamapp.kafka.topics import ensure_topics
from tests.reliability.conftest import Record, StartScorer, make_topics
from tests.reliability.kafka_io import PacedProducer, delivery_summary, read_keys
from tests.reliability.sizes import Sizes
from tests.scoring_support import good_events


def _create_times_ms(bootstrap: str, topic: str, n: int, timeout: float = 60.0) -> list[int]:
    """Producer timestamps of the first ``n`` records of ``topic``, sorted."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "stall-reader"})
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    stamps: list[int] = []
    deadline = time.monotonic() + timeout
    try:
        while len(stamps) < n and time.monotonic() < deadline:
            stamps += [m.timestamp()[1] for m in consumer.consume(5000, 0.5) if not m.error()]
    finally:
        consumer.close()
    return sorted(stamps)


def test_partition_leader_sigkill_on_three_nodes_loses_nothing(
    unique: str, start_scorer: StartScorer, sizes: Sizes, record: Record
) -> None:
    with ApacheKafka(nodes=3) as cluster:
        bootstrap = cluster.bootstrap_servers
        topics = make_topics(unique)
        ensure_topics(cluster.client_conf(), topics.all_topics(), replication_factor=3)
        worker = start_scorer(bootstrap_servers=bootstrap, topics=topics)
        n = sizes.broker_events * 2
        rate = n / 20
        events = good_events(n, prefix=f"l{unique}-")
        load = PacedProducer(bootstrap, topics.events, events, rate)
        load.start()
        tick = threading.Event()
        while load.acked < n // 3:
            tick.wait(0.05)
        meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
        leader = meta.topics[topics.events].partitions[0].leader
        killed_at_ms = int(time.time() * 1000)
        cluster.kill_node(leader)
        load.join(300)
        ids = {k.decode() for k, _v in events}
        preds = read_keys(bootstrap, topics.predictions, ids, timeout=300, settle=1.0)
        seen, lost, dups = delivery_summary(preds, ids)
        stamps = _create_times_ms(bootstrap, topics.predictions, sum(preds.values()))
        after = [t for t in stamps if t >= killed_at_ms - 1000]
        stall_s = max((b - a for a, b in itertools.pairwise(after)), default=0) / 1000
        alive = worker.alive()
        code = worker.stop()
        record(
            scenario="3-node Apache Kafka, partition leader SIGKILL (RF 3, min.insync 2)",
            load=f"{n} events at {rate:.0f}/s",
            faults=f"SIGKILL of node {leader} (leader of {topics.events}-0) at ~1/3 of the load",
            events_in=n,
            events_acked=load.acked,
            producer_errors=len(load.errors),
            predictions_out=seen,
            lost=lost,
            duplicated=dups,
            stall_s=round(stall_s, 1),
        )
        assert load.acked == n and not load.errors, load.errors[:3]
        assert alive and code == 0, worker.log_tail()
        assert lost == 0, f"{lost} of {n} events were never scored"
