"""The demo's independent view of the loop: predictions scored against the known truth.

Reads the predictions, prediction-log, retrain-requests, promotion-decisions and
dead-letter topics from the beginning (partitions assigned, no group join) and
keeps per-second buckets of predictions and correct ones per model version
(shadow predictions, which only the prediction log carries, under
``<version>-shadow``), plus consumer-side end-to-end latency (event time →
prediction read). Everything is bounded by the demo's length; nothing here
trusts the monitor, so the plots cross-check it. Predictions are read by their
format (:class:`~streamapp.demo.wire.ValueReader`: the wire format through the
Schema Registry, else JSON) and counted by it.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streamapp.demo.producer import Truth
from streamapp.demo.wire import ValueReader
from streamapp.schemas import PromotionDecision, RetrainRequest, Variant
from streamapp.settings.topics import TopicSettings

SHADOW_SUFFIX = "-shadow"
"""Appended to a version's key in the accuracy buckets for its shadow predictions."""


@dataclass
class Bucket:
    """One second of predictions: counts per version, correct per version, latencies."""

    n: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    correct: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class SeenRequest:
    """A retrain request read from its topic, with the demo time it was read."""

    t: float
    request: RetrainRequest


@dataclass(frozen=True)
class SeenDecision:
    """A promotion decision (canary / shadow verdict) read from its topic, at the demo time
    it was decided (``decided_at``; reading it may lag behind)."""

    t: float
    decision: PromotionDecision


class Observer(threading.Thread):
    """Consumes predictions, requests and dead letters until ``stop`` is set."""

    def __init__(
        self,
        conf: dict[str, Any],
        topics: TopicSettings,
        truth: Truth,
        stop: threading.Event,
        t0: float,
        predictions: ValueReader | None = None,
    ) -> None:
        super().__init__(name="demo-observer", daemon=True)
        self.prediction_values = predictions or ValueReader(None)
        """Reads the predictions topic; its ``counts`` say in which formats it was."""
        self.conf = conf
        self.topics = topics
        self.truth = truth
        self.stop_event = stop
        self.start_mono = t0
        self.buckets: dict[int, Bucket] = defaultdict(Bucket)
        self.requests: list[SeenRequest] = []
        self.decisions: list[SeenDecision] = []
        self.dead_letters: dict[str, int] = defaultdict(int)
        self.first_seen: dict[str, float] = {}
        """model version → demo time of its first prediction."""
        self.predictions = 0
        self.unknown = 0
        self.lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the traffic started (the demo clock)."""
        return time.monotonic() - self.start_mono

    def run(self) -> None:
        consumer = Consumer(
            {
                **self.conf,
                "group.id": "streamapp-demo-observer",
                "enable.auto.commit": False,
                "queued.max.messages.kbytes": 4096,  # bounded prefetch per partition
            }
        )
        try:
            assignment = []
            for topic in (
                self.topics.predictions,
                self.topics.prediction_log,
                self.topics.retrain_requests,
                self.topics.promotion_decisions,
                self.topics.dead_letter,
            ):
                meta = consumer.list_topics(topic, timeout=15).topics[topic]
                assignment += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
            consumer.assign(assignment)
            while not self.stop_event.is_set():
                for msg in consumer.consume(500, 0.2):
                    if msg.error() is None:
                        self._handle(msg.topic() or "", msg.value() or b"{}")
        finally:
            consumer.close()

    def _handle(self, topic: str, value: bytes) -> None:
        t = self.now()
        if topic == self.topics.predictions:
            if (prediction := self.prediction_values.read(value)) is not None:
                self._prediction(t, prediction)
        elif topic == self.topics.prediction_log:
            record = orjson.loads(value)
            if record.get("variant") == Variant.SHADOW.value:
                self._shadow(record)
        elif topic == self.topics.retrain_requests:
            try:
                request = RetrainRequest.model_validate_json(value)
            except ValueError:
                return
            with self.lock:
                self.requests.append(SeenRequest(t, request))
        elif topic == self.topics.promotion_decisions:
            try:
                decision = PromotionDecision.model_validate_json(value)
            except ValueError:
                return
            # demo time of the decision itself (the monitor's clock is this host's)
            age = (datetime.now(UTC) - decision.decided_at).total_seconds()
            with self.lock:
                self.decisions.append(SeenDecision(t - max(0.0, age), decision))
        else:
            reason = orjson.loads(value).get("reason", "unknown")
            with self.lock:
                self.dead_letters[str(reason)] += 1

    def _prediction(self, t: float, record: dict[str, Any]) -> None:
        version = str(record.get("model_version"))
        truth = self.truth.labels.get(str(record.get("event_id")))
        event_time = datetime.fromisoformat(record["event_time"])
        latency = (datetime.now(UTC) - event_time).total_seconds()
        with self.lock:
            self.predictions += 1
            self.first_seen.setdefault(version, t)
            bucket = self.buckets[int(t)]
            bucket.latency_s.append(latency)
            if truth is None:
                self.unknown += 1
                return
            _score(bucket, version, record, truth)

    def _shadow(self, record: dict[str, Any]) -> None:
        """Count a shadow prediction's correctness only (it is never served: no latency)."""
        truth = self.truth.labels.get(str(record.get("event_id")))
        if truth is None:
            return
        with self.lock:
            bucket = self.buckets[int(self.now())]
            _score(bucket, f"{record.get('model_version')}{SHADOW_SUFFIX}", record, truth)

    def accuracy(self, since: float, until: float | None = None) -> dict[str, tuple[float, int]]:
        """Accuracy and count per version over predictions read in ``[since, until)``."""
        n: dict[str, int] = defaultdict(int)
        correct: dict[str, int] = defaultdict(int)
        with self.lock:
            for second, bucket in self.buckets.items():
                if second >= since and (until is None or second < until):
                    for version, count in bucket.n.items():
                        n[version] += count
                        correct[version] += bucket.correct[version]
        return {v: (correct[v] / n[v], n[v]) for v in n if n[v]}

    def latency(self, since: float, until: float | None = None) -> tuple[float, float] | None:
        """p50 and p99 end-to-end latency in seconds over ``[since, until)``."""
        with self.lock:
            values = [
                x
                for s, b in self.buckets.items()
                if s >= since and (until is None or s < until)
                for x in b.latency_s
            ]
        if not values:
            return None
        p50, p99 = np.percentile(values, [50, 99])
        return float(p50), float(p99)


def _score(bucket: Bucket, key: str, record: dict[str, Any], truth: tuple[int, bool]) -> None:
    """Count one prediction of ``key`` in ``bucket``, and whether it matches the truth."""
    bucket.n[key] += 1
    bucket.correct[key] += int(record.get("predicted_label") == truth[0])
