"""Topic names and partition counts (``STREAMAPP_TOPICS__*``)."""

from __future__ import annotations

from pydantic import Field

from streamapp.settings.base import Section


class TopicSettings(Section):
    """Topic names and partition counts; ``streamapp topics create`` makes them all."""

    events: str = "streamapp.events"
    """Input events (key = event id)."""
    predictions: str = "streamapp.predictions"
    """Published predictions (key = event id)."""
    prediction_log: str = "streamapp.prediction-log"
    """Deterministic sample of predictions with their features, for the label join."""
    labels: str = "streamapp.labels"
    """Ground-truth labels (key = event id)."""
    dead_letter: str = "streamapp.dead-letter"
    """Rejected input with a reason code and the original bytes."""
    retrain_requests: str = "streamapp.retrain-requests"
    """One retrain request per incident."""
    promotion_decisions: str = "streamapp.promotion-decisions"
    """Canary / shadow verdicts: promote, roll back, keep collecting (one per change)."""
    monitoring_summaries: str = "streamapp.monitoring-summaries"
    """Mergeable monitoring summaries (key = model/version; ``partitions`` partitions)."""
    joined_outcomes: str = "streamapp.joined-outcomes"
    """Predictions joined with their labels: fresh training data."""
    status: str = "streamapp.status"
    """Worker heartbeats (compacted, one partition; key = worker id), read by ``status``."""
    partitions: int = Field(default=4, ge=1)
    """Partitions of the keyed topics (events, predictions, log, labels, outcomes)."""
    replication_factor: int = Field(default=1, ge=1)
    """Replication factor for created topics."""

    def all_topics(self) -> dict[str, int]:
        """Every configured topic with its partition count (retrain requests, promotion
        decisions: one partition)."""
        keyed = (
            self.events,
            self.predictions,
            self.prediction_log,
            self.labels,
            self.dead_letter,
            self.joined_outcomes,
        )
        topics = dict.fromkeys(keyed, self.partitions)
        topics[self.retrain_requests] = 1
        topics[self.promotion_decisions] = 1
        topics[self.monitoring_summaries] = self.partitions
        topics[self.status] = 1
        return topics

    def topic_configs(self) -> dict[str, dict[str, str]]:
        """Topic configs used at creation: the status topic keeps the last heartbeat per key."""
        return {self.status: {"cleanup.policy": "compact", "segment.ms": "600000"}}
