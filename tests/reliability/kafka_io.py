"""Kafka helpers of the reliability suite: paced producers and per-key counting readers.

Counting never relies on end offsets (wrong on the embedded broker, see
BROKER_NOTES): a reader consumes from the beginning until every wanted key was
seen, then keeps reading until the topic has been quiet for ``settle`` seconds
so late duplicates are counted too.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from streamapp.kafka.produce import produce_all as produce
from streamapp.kafka.produce import send

Record = tuple[bytes, bytes]


def producer(bootstrap: str, **extra: Any) -> Producer:
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"}
    conf.update(extra)
    return Producer(conf)


def produce_all(
    bootstrap: str, topic: str, records: Iterable[Record], conf: dict[str, Any] | None = None
) -> int:
    """Produce and wait for every acknowledgement; returns the number produced."""
    n, left, deliveries = produce(producer(bootstrap, **(conf or {})), topic, records)
    errors = deliveries.errors
    assert left == 0 and not errors, f"undelivered {left}, errors {errors[:3]}"
    return n


class PacedProducer(threading.Thread):
    """Produces ``records`` at about ``rate`` per second in a background thread.

    ``produced`` counts acknowledged records; ``errors`` collects delivery
    failures (a broker outage makes them expected in one scenario).
    """

    def __init__(self, bootstrap: str, topic: str, records: Sequence[Record], rate: float) -> None:
        super().__init__(daemon=True, name="paced-producer")
        self.bootstrap, self.topic, self.records, self.rate = bootstrap, topic, records, rate
        self.acked = 0
        self.errors: list[str] = []
        self.stop_event = threading.Event()
        self.finished_at: float | None = None

    def run(self) -> None:
        prod = producer(self.bootstrap, **{"message.timeout.ms": 120_000})

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is None:
                self.acked += 1
            else:
                self.errors.append(str(err))

        started = time.monotonic()
        chunk = max(1, int(self.rate / 50))
        for i in range(0, len(self.records), chunk):
            if self.stop_event.is_set():
                break
            for key, value in self.records[i : i + chunk]:
                send(prod, self.topic, value, key, on_delivery=on_delivery)
            prod.poll(0)
            ahead = (i + chunk) / self.rate - (time.monotonic() - started)
            if ahead > 0:
                self.stop_event.wait(ahead)  # pacing the load, not waiting for an effect
        prod.flush(120)
        self.finished_at = time.monotonic()


def read_keys(
    bootstrap: str,
    topic: str,
    want: set[str] | None = None,
    timeout: float = 120.0,
    settle: float = 2.0,
    isolation: str = "read_committed",
) -> Counter[str]:
    """How many records per key ``topic`` holds.

    Reads from the beginning (no consumer group) until every key in ``want``
    was seen (or ``timeout`` passed), then until nothing new arrived for
    ``settle`` seconds.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reliability-reader",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
            "isolation.level": isolation,
        }
    )
    counts: Counter[str] = Counter()
    missing = set(want or ())
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            msgs = consumer.consume(5000, 0.2)
            for m in msgs:
                if m.error() is None:
                    key = (m.key() or b"").decode(errors="replace")
                    counts[key] += 1
                    missing.discard(key)
            if msgs:
                last_new = time.monotonic()
            elif not missing and time.monotonic() - last_new >= settle:
                break
        return counts
    finally:
        consumer.close()


def read_values(
    bootstrap: str, topic: str, n: int, timeout: float = 60.0, conf: dict[str, Any] | None = None
) -> list[Any]:
    """The first ``n`` messages of ``topic`` (from the beginning, no group)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reliability-reader",
            "enable.auto.commit": False,
            **(conf or {}),
        }
    )
    out: list[Any] = []
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            out.extend(m for m in consumer.consume(5000, 0.2) if m.error() is None)
        return out
    finally:
        consumer.close()


def delivery_summary(counts: Counter[str], expected: Iterable[str]) -> tuple[int, int, int]:
    """(seen unique, lost, duplicated records) of ``expected`` keys in ``counts``."""
    exp = set(expected)
    seen = sum(1 for k in exp if counts.get(k, 0) > 0)
    dups = sum(c - 1 for k, c in counts.items() if k in exp and c > 1)
    return seen, len(exp) - seen, dups
