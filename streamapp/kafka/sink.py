"""The scoring sink: a confluent-kafka producer whose deliveries complete :class:`Ticket` s.

``send`` may be called from scorer-pool threads (``produce`` is thread-safe);
delivery callbacks run in the thread that calls :meth:`poll` (the worker's main
loop). Failed deliveries are produced again up to ``max_retries`` times; after
that the ticket is reported as fatal and its offsets are never committed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Producer

from streamapp.kafka.client_logs import with_client_logging
from streamapp.kafka.commit import Ticket

PRODUCER_DEFAULTS: dict[str, Any] = {
    "linger.ms": 5,
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 256 * 1024,
    "acks": "all",
}


class DeliveryFailed(RuntimeError):
    """A record could not be delivered after retries; the worker stops without committing it."""


class KafkaSink:
    """Produces output records for tickets and re-produces failed deliveries."""

    def __init__(
        self, conf: dict[str, Any], max_retries: int = 3, poll_when_full: bool = False
    ) -> None:
        self.producer = Producer(with_client_logging({**PRODUCER_DEFAULTS, **conf}))
        self.max_retries = max_retries
        self.poll_when_full = poll_when_full
        """True for single-threaded callers: serve delivery callbacks while the queue is full."""

    def send(
        self,
        ticket: Ticket,
        records: Sequence[tuple[str, bytes | None, bytes | None, Any]],
        partition: int | None = None,
    ) -> None:
        """Produce every record of ``ticket`` and seal it (scorer-pool thread).

        ``partition`` sends every record to that partition (a changelog);
        otherwise the key picks it. A None value is a tombstone.
        """
        produce = self.producer.produce
        callback = ticket.delivered
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        for topic, key, value, headers in records:
            while True:
                try:
                    if headers:
                        produce(topic, value, key, headers=headers, on_delivery=callback, **extra)
                    else:
                        produce(topic, value, key, on_delivery=callback, **extra)
                    break
                except BufferError:
                    if self.poll_when_full:
                        self.producer.poll(0.005)
                    else:
                        time.sleep(0.002)  # the main loop polls the producer and frees the queue
        ticket.seal(len(records))

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery callbacks (main loop thread)."""
        return int(self.producer.poll(timeout))

    def retry(self, ticket: Ticket) -> list[str]:
        """Produce a ticket's failed records again; returns their topics (for the metric)."""
        failed, ticket.failed = ticket.failed, []
        ticket.retries += 1
        if ticket.retries > self.max_retries:
            raise DeliveryFailed(
                f"{len(failed)} records undeliverable after {self.max_retries} retries"
            )
        for msg in failed:
            self.producer.produce(
                msg.topic(), msg.value(), msg.key(), headers=msg.headers(),
                partition=msg.partition(), on_delivery=ticket.delivered,
            )
        return [str(msg.topic()) for msg in failed]

    def flush(self, timeout: float) -> int:
        """Wait for outstanding deliveries; returns how many are still queued."""
        return int(self.producer.flush(timeout))
