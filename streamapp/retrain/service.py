"""The long-running retrainer: Kafka in (requests, outcomes), registry out.

It reads the joined-outcomes topic (JSON or Avro, value by value; malformed values
skipped: :mod:`streamapp.retrain.outcome_values`) from the beginning into a bounded buffer and
the retrain-requests topic as a consumer group (and, with
``retrain.promotion_actor = "retrainer"``, the promotion-decisions topic, moving
the registry pointers on promote / roll back: :mod:`streamapp.retrain.promotion`).
Requests are handled one at a time, in order; each is deduplicated on its
idempotency key (also persisted in the registry, so a restart does not retrain
twice), skipped when it is about a
version that no longer serves, and otherwise waits until enough outcomes since
the incident have arrived. A request's offset is committed only after it was
handled; a crash re-delivers it and the persisted key makes the replay a no-op.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from streamapp.config import Settings
from streamapp.formats.resolver import RegistryStopped
from streamapp.kafka.client_logs import with_client_logging
from streamapp.kafka.health import ConnectionHealth
from streamapp.metrics.formats import FormatMetrics
from streamapp.metrics.retrain import DECISIONS, RetrainMetrics
from streamapp.registry.registry import ModelRegistry, RegistryError
from streamapp.retrain.buffer import OutcomeBuffer
from streamapp.retrain.events import WaitLog, log_event
from streamapp.retrain.job import RetrainError, RetrainResult, retrain
from streamapp.retrain.outcome_values import OutcomeValues
from streamapp.retrain.promotion import apply_decision
from streamapp.schemas import PromotionDecision, RetrainRequest

log = logging.getLogger(__name__)
SEEN_FILE = ".retrainer-handled.json"
MAX_SEEN = 1000


class RetrainService:
    """Consumes retrain requests and runs :func:`streamapp.retrain.job.retrain` for each."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        metrics: RetrainMetrics | None = None,
        health: ConnectionHealth | None = None,
        formats: FormatMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.cfg = settings.retrain
        self.conf = settings.kafka.librdkafka(bootstrap)
        self.health = health or ConnectionHealth(bootstrap, settings.kafka.unreachable_liveness_s)
        """Reachability of the cluster, for a health endpoint (ready/live reasons): the role
        host's tracker when hosted (:mod:`streamapp.retrain.role`)."""
        self.registry = ModelRegistry(settings.model.registry)
        self.buffer = OutcomeBuffer(self.cfg.max_samples * 2)
        self.outcomes = OutcomeValues(settings, formats or FormatMetrics(CollectorRegistry()))
        """Joined-outcome values (JSON or Avro) → outcomes (``formats``: its registry metrics)."""
        self.results: list[RetrainResult] = []
        self._queue: deque[tuple[RetrainRequest, Any, float]] = deque()
        self._seen_path = Path(settings.model.registry) / SEEN_FILE
        self._seen = self._load_seen()
        self._collecting = WaitLog(settings.log.repeat_interval_s)
        self.ready = False
        """True once both consumers are set up (what ``/health/ready`` reports)."""
        self.last_decision: dict[str, Any] | None = None
        """The last request's outcome (one of :data:`DECISIONS`), for ``streamapp status``."""

    def ready_reason(self) -> str | None:
        """None when ready, else why not (the ``/health/ready`` body)."""
        reason = self.health.ready_reason() or self.outcomes.ready_reason()
        if self.ready:
            return reason
        return reason or "starting: waiting for the cluster and consumers"

    def emit(self, kind: str, **fields: Any) -> None:
        """Count a decision, then log the event (one JSON line in JSON log format:
        :mod:`streamapp.retrain.events`): whoever sees the line sees the counter too."""
        if kind in DECISIONS:
            self.last_decision = {"ts": datetime.now(UTC).isoformat(), "event": kind, **fields}
            if self.metrics is not None:
                self.metrics.decided(str(fields.get("model", "")), kind)
        log_event(log, kind, fields)

    def run(self, stop: threading.Event, max_requests: int | None = None) -> None:
        """Serve until ``stop`` is set (or ``max_requests`` were handled); closes its consumers.

        The role host (:mod:`streamapp.retrain.role`) has waited for the cluster's first
        answer; afterwards the consumers retry an outage and feed :attr:`health`.
        """
        topics = self.settings.topics
        self.outcomes.stop_with(stop)
        outcomes = Consumer(with_client_logging(
            {**self.conf, "group.id": f"{self.cfg.group_id}-outcomes", "enable.auto.commit": False}
        ))
        requests = Consumer(with_client_logging(
            {
                **self.conf,
                "group.id": self.cfg.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
            },
            self.health,
        ))
        decisions = (
            Consumer(with_client_logging({
                **self.conf, "group.id": f"{self.cfg.group_id}-decisions",
                "enable.auto.commit": False, "auto.offset.reset": "earliest",
            }))
            if self.cfg.promotion_actor == "retrainer" else None
        )
        try:
            if decisions is not None:
                decisions.subscribe([topics.promotion_decisions])
            parts = outcomes.list_topics(topics.joined_outcomes, timeout=15).topics
            meta = parts[topics.joined_outcomes].partitions
            outcomes.assign(
                [TopicPartition(topics.joined_outcomes, p, OFFSET_BEGINNING) for p in meta]
            )
            requests.subscribe([topics.retrain_requests])
            self.ready = True
            self.emit("ready", group=self.cfg.group_id)
            handled = 0
            while not stop.is_set() and (max_requests is None or handled < max_requests):
                self._read_outcomes(outcomes)
                self._read_requests(requests)
                if decisions is not None:
                    self._read_decisions(decisions)
                if self._queue and self._step(requests):
                    handled += 1
                self._gauges()
        finally:
            self.ready = False
            requests.close()
            outcomes.close()
            if decisions is not None:
                decisions.close()

    def _read_outcomes(self, consumer: Consumer) -> None:
        """Buffer the outcomes fetched now, JSON or Avro; malformed values are skipped
        (:class:`~.outcome_values.OutcomeValues`). A stop during a registry outage leaves
        the rest of the fetch unread."""
        for msg in consumer.consume(1000, 0.1):
            if msg.error() is not None:
                continue
            try:
                outcome = self.outcomes.decode(msg.value(), msg.offset())
            except RegistryStopped:
                return
            if outcome is not None:
                self.buffer.add(outcome)

    def _read_requests(self, consumer: Consumer) -> None:
        for msg in consumer.consume(10, 0.05):
            if msg.error() is not None:
                continue
            try:
                request = RetrainRequest.model_validate_json(msg.value() or b"")
            except ValidationError as exc:
                self.emit("invalid_request", offset=msg.offset(), error=str(exc)[:200])
                consumer.commit(message=msg, asynchronous=False)
                continue
            self._queue.append((request, msg, time.monotonic()))

    def _read_decisions(self, consumer: Consumer) -> None:
        """Act on promotion decisions (``retrain.promotion_actor = "retrainer"``), in order;
        each offset is committed once its decision was applied (a replay is stale)."""
        model = self.settings.model
        for msg in consumer.consume(10, 0.01):
            if msg.error() is not None:
                continue
            try:
                decision = PromotionDecision.model_validate_json(msg.value() or b"")
            except ValidationError as exc:
                self.emit("invalid_decision", offset=msg.offset(), error=str(exc)[:200])
            else:
                kind, fields = apply_decision(
                    self.registry, decision, model.pointer, model.candidate_pointer
                )
                self.emit(kind, **fields)
            consumer.commit(message=msg, asynchronous=False)

    def _step(self, consumer: Consumer) -> bool:
        """Advance the head request; True when it was handled (and its offset committed)."""
        request, msg, since_mono = self._queue[0]
        done = self._advance(request, since_mono)
        if done:
            self._queue.popleft()
            self._remember(request.idempotency_key)
            consumer.commit(message=msg, asynchronous=False)
        return done

    def _advance(self, request: RetrainRequest, since_mono: float) -> bool:
        key = request.idempotency_key
        fields = {"key": key, "model": request.model_name, "version": request.model_version}
        if key in self._seen:
            self.emit("duplicate", **fields)
            return True
        try:
            serving = self.registry.resolve(request.model_name, self.settings.model.pointer)
        except RegistryError as exc:
            self.emit("skipped", **fields, why=str(exc))
            return True
        if serving.version != request.model_version:
            self.emit("skipped", **fields, why=f"stale: version {serving.version} serves now")
            return True
        since = request.requested_at - timedelta(seconds=self.cfg.lookback_s)
        have = self.buffer.count_since(request.model_name, since)
        if have < self.cfg.min_samples:
            if time.monotonic() - since_mono > self.cfg.max_wait_s:
                self.emit(
                    "skipped", **fields, why=f"only {have} outcomes after {self.cfg.max_wait_s}s"
                )
                return True
            if self._collecting.due(key, have, self.cfg.min_samples):
                self.emit("collecting", **fields, have=have, need=self.cfg.min_samples)
            return False
        data = self.buffer.select(request.model_name, since, self.cfg.max_samples)
        self.emit("training", **fields, samples=len(data), reason=request.reason.value)

        def progress(done: int, total: int) -> None:
            self.emit("progress", **fields, epoch=done, epochs=total)

        started = time.monotonic()
        try:
            result = retrain(self.registry, serving, request, data, self.cfg, progress)
        except (RetrainError, RegistryError) as exc:
            self.emit("failed", **fields, why=str(exc))
            return True
        if self.metrics is not None:
            self.metrics.training.labels(model=request.model_name).observe(
                time.monotonic() - started
            )
        self.results.append(result)
        ev = result.evaluation
        self.emit(
            "promoted" if result.promoted_to else "rejected",
            **fields,
            new_version=result.version,
            pointer=result.promoted_to,
            metric=ev.metric,
            candidate=ev.candidate,
            serving=ev.serving,
            n_eval=ev.n_eval,
            n_train=result.n_train,
            why=result.decision.reason,
        )
        return True

    def _gauges(self) -> None:
        if self.metrics is not None:
            self.metrics.pending.set(len(self._queue))
            self.metrics.buffered.set(len(self.buffer))

    def _load_seen(self) -> dict[str, None]:
        try:
            return dict.fromkeys(json.loads(self._seen_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return {}

    def _remember(self, key: str) -> None:
        self._seen[key] = None
        keys = list(self._seen)[-MAX_SEEN:]
        tmp = self._seen_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(keys), encoding="utf-8")
            tmp.replace(self._seen_path)
        except OSError as exc:
            log.warning("cannot persist handled retrain keys: %s", exc)
