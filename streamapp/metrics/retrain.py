"""Metrics of the retrainer (``streamapp retrain``): decisions, training time, backlog."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from streamapp.metrics.common import BuildMetrics

# The retrainer events that end the handling of one request (streamapp.retrain.service).
DECISIONS = ("promoted", "rejected", "skipped", "failed", "duplicate", "invalid_request")


class RetrainMetrics:
    """What the retrainer decided, how long training took, and what it is waiting on."""

    def __init__(self, prometheus: CollectorRegistry = REGISTRY) -> None:
        self.build = BuildMetrics(prometheus)
        self.decisions = Counter(
            "streamapp_retrain_decisions_total",
            "Retrain requests handled, by outcome (promoted, rejected, skipped, failed, "
            "duplicate, invalid_request).",
            ["model", "outcome"],
            registry=prometheus,
        )
        self.last_decision = Gauge(
            "streamapp_retrain_last_decision_timestamp_seconds",
            "Unix time of the last handled retrain request, by outcome.",
            ["model", "outcome"],
            registry=prometheus,
        )
        self.training = Histogram(
            "streamapp_retrain_training_seconds",
            "Training plus evaluation of one candidate version.",
            ["model"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=prometheus,
        )
        self.pending = Gauge(
            "streamapp_retrain_pending_requests",
            "Retrain requests received and not yet handled (waiting for outcomes or training).",
            registry=prometheus,
        )
        self.buffered = Gauge(
            "streamapp_retrain_buffered_outcomes",
            "Joined outcomes held in the retrainer's bounded buffer.",
            registry=prometheus,
        )

    def decided(self, model: str, outcome: str) -> None:
        """Count one handled request; ``outcome`` is one of :data:`DECISIONS`."""
        self.decisions.labels(model=model, outcome=outcome).inc()
        self.last_decision.labels(model=model, outcome=outcome).set_to_current_time()
