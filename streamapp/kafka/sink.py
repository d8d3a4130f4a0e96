"""The scoring sink: a confluent-kafka producer whose deliveries complete :class:`Ticket` s.

``send`` may be called from scorer-pool threads (``produce`` is thread-safe);
delivery callbacks run in the thread that calls :meth:`poll` (the worker's main
loop). The producer is idempotent: librdkafka retries a failed request itself,
without duplicates or reordering, until ``delivery.timeout.ms`` (default 300 s,
settable in ``kafka.extra``). A delivery reported failed after that is final:
:func:`delivery_failure` turns it into :class:`DeliveryFailed`, the worker stops,
and the ticket's offsets are never committed (the next owner replays them).

With a ``transactional_id`` the sink is transactional (exactly-once): outputs go
into an open transaction that :meth:`KafkaSink.commit_transaction` commits
together with the input offsets; a failed delivery aborts the transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTP

from streamapp.kafka.client_logs import with_client_logging
from streamapp.kafka.commit import DeliveryFailed, Ticket, TopicPartition, delivery_failure
from streamapp.kafka.produce import send

__all__ = ["PRODUCER_DEFAULTS", "DeliveryFailed", "KafkaSink", "delivery_failure"]

PRODUCER_DEFAULTS: dict[str, Any] = {
    # Low latency at light load, large batches at high load: send after 1 ms, but keep
    # at most 5 requests in flight so that records accumulate into bigger batches while
    # the broker is busy (unbounded pipelining queued seconds of tiny requests on a
    # loaded broker). Measured in benchmarks/README.md (scoring, chosen defaults).
    "linger.ms": 1,
    "max.in.flight.requests.per.connection": 5,
    # TCP_NODELAY, as the Java clients always set it: with Nagle's algorithm a small request
    # behind an unacknowledged one waits for the ACK (benchmarks/README.md, nagle).
    "socket.nagle.disable": True,
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 256 * 1024,
    "acks": "all",
    # librdkafka retries failed requests itself, in order and without duplicates, until
    # delivery.timeout.ms; the sink never produces a record twice.
    "enable.idempotence": True,
    "delivery.timeout.ms": 300_000,
}


class KafkaSink:
    """Produces output records for tickets through one idempotent producer."""

    def __init__(
        self,
        conf: dict[str, Any],
        transactional_id: str | None = None,
        transaction_timeout_ms: int = 60_000,
        poll_when_full: bool = False,
    ) -> None:
        self.transactional = transactional_id is not None
        if transactional_id is not None:
            conf = {
                **conf,
                "transactional.id": transactional_id,
                "transaction.timeout.ms": transaction_timeout_ms,
                # librdkafka: a delivery may not outlive its transaction
                "delivery.timeout.ms": min(
                    int(conf.get("delivery.timeout.ms", transaction_timeout_ms)),
                    transaction_timeout_ms,
                ),
            }
        self.producer = Producer(with_client_logging({**PRODUCER_DEFAULTS, **conf}))
        self.poll_when_full = poll_when_full
        """True for single-threaded callers: serve delivery callbacks while the queue is full."""
        if self.transactional:
            # Fences an earlier incarnation with the same id and aborts its open transaction.
            self.producer.init_transactions(transaction_timeout_ms / 1000)
            self.producer.begin_transaction()

    def commit_transaction(
        self, positions: dict[TopicPartition, int], group_metadata: Any, timeout: float = 30.0
    ) -> None:
        """Commit the open transaction with the consumer ``positions``, then open the next one.

        Raises ``KafkaException`` when the transaction cannot commit; it is aborted
        first when the error allows, so none of its records become visible.
        """
        producer = self.producer
        offsets = [KafkaTP(t, p, o) for (t, p), o in positions.items()]
        try:
            if offsets:
                producer.send_offsets_to_transaction(offsets, group_metadata, timeout)
            producer.commit_transaction(timeout)
        except KafkaException as exc:
            if exc.args[0].txn_requires_abort():
                producer.abort_transaction(timeout)
            raise
        producer.begin_transaction()

    def abort_transaction(self, timeout: float = 30.0) -> None:
        """Abort the open transaction (its records are never visible to read_committed)."""
        if self.transactional:
            self.producer.abort_transaction(timeout)

    def send(
        self,
        ticket: Ticket[Any],
        records: Sequence[tuple[str, bytes | None, bytes | None, Any]] = (),
        columns: Sequence[tuple[str, Sequence[bytes | None], Sequence[bytes | None]]] = (),
        partition: int | None = None,
    ) -> None:
        """Produce every output of ``ticket`` and seal it (scorer-pool thread).

        ``records`` are ``(topic, key, value, headers)`` produced one by one (a None
        value is a tombstone); ``columns`` are ``(topic, keys, values)`` without
        headers, produced with one ``produce_batch`` call each (None values too).
        ``partition`` sends every record to that partition (a changelog); otherwise
        the key picks it.
        Every record's delivery lands on the ticket's one bound callback. A full
        local queue is waited out (the main loop polls the producer), never dropped.
        """
        callback = ticket.delivered
        total = len(records)
        for topic, keys, values in columns:
            if values:
                self._produce_column(topic, keys, values, callback, partition)
                total += len(values)
        producer, wait = self.producer, self._wait_for_room
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        for topic, key, value, headers in records:
            if headers:
                send(producer, topic, value, key, wait, headers=headers, on_delivery=callback,
                     **extra)
            else:
                send(producer, topic, value, key, wait, on_delivery=callback, **extra)
        ticket.seal(total)

    def _wait_for_room(self) -> None:
        """The local queue is full: serve callbacks (single-threaded callers) or let the
        main loop, which polls the producer, free it."""
        if self.poll_when_full:
            self.producer.poll(0.005)
        else:
            time.sleep(0.002)

    def _produce_column(
        self,
        topic: str,
        keys: Sequence[bytes | None],
        values: Sequence[bytes | None],
        callback: Callable[[Any, Any], None],
        partition: int | None = None,
    ) -> None:
        """One ``produce_batch``; records the local queue refused are produced again."""
        batch: list[dict[str, Any]] = [
            {"value": v, "key": k} for k, v in zip(keys, values, strict=True)
        ]
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        while batch:
            queued = self.producer.produce_batch(topic, batch, on_delivery=callback, **extra)
            if queued == len(batch):
                return
            refused = [m for m in batch if "_error" in m]
            for m in refused:
                if m["_error"].code() != KafkaError._QUEUE_FULL:
                    raise KafkaException(m["_error"])  # as produce() raises: the batch fails
            batch = [{"value": m["value"], "key": m["key"]} for m in refused]
            self._wait_for_room()

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery callbacks (main loop thread)."""
        return int(self.producer.poll(timeout))

    def idle(self) -> bool:
        """Nothing queued, in flight or waiting to be reported: every record produced so far
        was acknowledged or its failure reported (:meth:`poll` serves failure reports)."""
        return len(self.producer) == 0

    def flush(self, timeout: float) -> int:
        """Wait for outstanding deliveries; returns how many are still queued."""
        return int(self.producer.flush(timeout))
