"""Producing without dropping: a full local queue is waited out, deliveries are counted.

confluent-kafka's ``produce`` raises ``BufferError`` when librdkafka's local
queue is full; every producer in streamapp (the scoring sink, ``streamapp
produce``, the demo traffic, the tests) waits for room through :func:`send`
instead of losing the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Producer

KeyValue = tuple[bytes | None, bytes | None]


def send(
    producer: Producer,
    topic: str,
    value: bytes | None,
    key: bytes | str | None = None,
    wait: Callable[[], object] | None = None,
    **kwargs: Any,
) -> None:
    """Produce one record; while the local queue is full, call ``wait`` and try again.

    ``wait`` defaults to serving delivery callbacks for 50 ms, right for a
    single-threaded caller; a thread that must not serve callbacks passes a sleep.
    Errors other than a full queue (``KafkaException``: unknown topic, record too
    large, ...) propagate.
    """
    pause = wait if wait is not None else (lambda: producer.poll(0.05))
    while True:
        try:
            producer.produce(topic, value, key, **kwargs)
            return
        except BufferError:
            pause()


class Deliveries:
    """Counts acknowledgements and keeps the first delivery errors (a delivery callback)."""

    def __init__(self, keep: int = 10) -> None:
        self.acked = 0
        self.failed = 0
        self.errors: list[str] = []
        self._keep = keep

    def __call__(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.acked += 1
            return
        self.failed += 1
        if len(self.errors) < self._keep:
            self.errors.append(str(err))


def produce_all(
    producer: Producer, topic: str, records: Iterable[KeyValue], timeout: float = 60.0
) -> tuple[int, int, Deliveries]:
    """Produce ``(key, value)`` records and flush: ``(sent, unacknowledged, deliveries)``.

    Nothing is raised for failed deliveries: the caller reads ``deliveries``.
    An exception from ``records`` propagates after the records before it were flushed.
    """
    deliveries = Deliveries()
    sent = 0
    try:
        for key, value in records:
            send(producer, topic, value, key, on_delivery=deliveries)
            producer.poll(0)
            sent += 1
    finally:
        left = int(producer.flush(timeout))
    return sent, left, deliveries
