"""The demo's traffic generator and label producer, paced in one thread.

Events are sent at the plan's rate to the events topic; each label is queued
with its delay and sent to the labels topic when due (labels of dropped or
malformed events never are). Ground truth is recorded in :class:`Truth` before
an event is sent, so the observer can always score a prediction it reads.
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
    ) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self.producer = Producer({**conf, "linger.ms": 5})
        self.topics = topics
        self.plan = plan
        self.truth = truth
        self.stop_event = stop
        self.start_mono = t0
        """Monotonic time of the demo clock's zero (shared with the observer)."""
        self.done = threading.Event()
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
            record = {
                "event_id": event_id,
                "label": label,
                "label_time": datetime.now(UTC).isoformat(),
                "model_name": AGRAWAL_MODEL,
            }
            self._send(self.topics.labels, event_id, orjson.dumps(record))
            self.truth.labels_sent += 1

    def _send_event(self, event: PlannedEvent, now: float) -> None:
        truth = self.truth
        if event.malformed is None:
            truth.labels[event.event_id] = (event.label, event.drifted)
        else:
            truth.malformed_sent += 1
        self._send(self.topics.events, event.event_id, event.payload(datetime.now(UTC)))
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
        """Pace events by the plan, then send the remaining labels, then flush."""
        try:
            for event in plan_events(self.plan):
                if not self._wait_until(self.start_mono + event.at_s):
                    return
                self._send_event(event, time.monotonic())
            if self._due:
                self._wait_until(max(due for due, _, _ in self._due))
        finally:
            self.producer.flush(10)
            self.done.set()

    def close(self) -> None:
        """Drop the client (after :meth:`join`), so it does not outlive the broker."""
        self.__dict__.pop("producer", None)
