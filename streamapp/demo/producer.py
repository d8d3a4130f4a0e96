"""The demo's traffic generator and label producer, paced in one thread.

Events are sent at the plan's rate to the events topic; each label is queued
with its delay and sent to the labels topic when due (labels of dropped or
malformed events never are). Ground truth is recorded in :class:`Truth` before
an event is sent, so the observer can always score a prediction it reads. With
:class:`~streamapp.demo.wire.WireEncoders` both are written in their wire format,
else as streamapp's JSON.
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import Producer

from streamapp.demo.traffic import PlannedEvent, TrafficPlan, plan_events
from streamapp.demo.wire import WireEncoders
from streamapp.formats.writers.serialize import RecordMismatch, SchemaUnavailable
from streamapp.kafka.produce import send
from streamapp.settings.topics import TopicSettings
from streamapp.training.synthetic import AGRAWAL_MODEL


@dataclass
class Truth:
    """Ground truth and send bookkeeping shared by the producer and the observer."""

    labels: dict[str, tuple[int, bool]] = field(default_factory=dict)
    """event id → (true label, drifted)."""
    events_sent: int = 0
    malformed_sent: int = 0
    labels_sent: int = 0
    labels_dropped: int = 0
    delivery_errors: int = 0


class TrafficProducer(threading.Thread):
    """Sends the plan's events and delayed labels until done or ``stop`` is set."""

    def __init__(
        self,
        conf: dict[str, Any],
        topics: TopicSettings,
        plan: TrafficPlan,
        truth: Truth,
        stop: threading.Event,
        t0: float,
        encoders: WireEncoders | None = None,
    ) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self.encoders = encoders
        """Events and labels in a registry wire format (None: JSON)."""
        self.producer = Producer({**conf, "linger.ms": 5})
        self.topics = topics
        self.plan = plan
        self.truth = truth
        self.stop_event = stop
        self.start_mono = t0
        """Monotonic time of the demo clock's zero (shared with the observer)."""
        self.done = threading.Event()
        self.error: str | None = None
        """Why the traffic ended early, if it did."""
        self._due: list[tuple[float, str, int]] = []

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.truth.delivery_errors += 1

    def _send(self, topic: str, key: str, value: bytes) -> None:
        send(self.producer, topic, value, key.encode(), on_delivery=self._on_delivery)
        self.producer.poll(0)

    def _send_due_labels(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            _, event_id, label = heapq.heappop(self._due)
            self._send(self.topics.labels, event_id, self._label(event_id, label))
            self.truth.labels_sent += 1

    def _label(self, event_id: str, label: int) -> bytes:
        if self.encoders is not None:
            return self.encoders.label(event_id, label, datetime.now(UTC))
        record = {
            "event_id": event_id,
            "label": label,
            "label_time": datetime.now(UTC).isoformat(),
            "model_name": AGRAWAL_MODEL,
        }
        return orjson.dumps(record)

    def _event(self, event: PlannedEvent) -> bytes:
        if self.encoders is not None:
            return self.encoders.event(event, datetime.now(UTC))
        return event.payload(datetime.now(UTC))

    def _send_event(self, event: PlannedEvent, now: float) -> None:
        truth = self.truth
        if event.malformed is None:
            truth.labels[event.event_id] = (event.label, event.drifted)
        else:
            truth.malformed_sent += 1
        self._send(self.topics.events, event.event_id, self._event(event))
        truth.events_sent += 1
        if event.label_delay_s is None:
            truth.labels_dropped += event.malformed is None
        else:
            heapq.heappush(self._due, (now + event.label_delay_s, event.event_id, event.label))

    def _wait_until(self, target: float) -> bool:
        """Send labels that fall due while waiting; False when stopped."""
        while not self.stop_event.is_set():
            now = time.monotonic()
            self._send_due_labels(now)
            if now >= target:
                return True
            nxt = min(target, self._due[0][0]) if self._due else target
            time.sleep(min(max(nxt - now, 0.0), 0.05))
        return False

    def run(self) -> None:
        """Pace events by the plan, then send the remaining labels, then flush. A record the
        wire format cannot write (or a registry gone away) ends the traffic: ``error``."""
        try:
            for event in plan_events(self.plan):
                if not self._wait_until(self.start_mono + event.at_s):
                    return
                self._send_event(event, time.monotonic())
            if self._due:
                self._wait_until(max(due for due, _, _ in self._due))
        except (RecordMismatch, SchemaUnavailable) as exc:
            self.error = f"traffic stopped: {exc}"
        finally:
            self.producer.flush(10)
            self.done.set()

    def close(self) -> None:
        """Drop the client (after :meth:`join`), so it does not outlive the broker."""
        self.__dict__.pop("producer", None)
