"""Broker and topic helpers shared by the integration and reliability tiers.

Apache Kafka (KRaft, from Maven via scripts/install-kafka.sh) is the reference
broker: one per test session, started only when a test asks for it, with a
PLAINTEXT listener, an SSL listener (a generated CA) and a SASL_SSL listener
with SCRAM-SHA-512 users. Tansu has its own smoke tests.
"""

from __future__ import annotations

from streamapp.settings.topics import TopicSettings

SCRAM_USERS = {
    "streamapp": "streamapp-secret",
    # tests/reliability/test_security.py checks this password never leaks anywhere
    "secret-keeper": "Zq8-sasl-secret-7f3e",
}


def make_topics(prefix: str, unique: str) -> TopicSettings:
    """A full set of topic names private to one test."""
    return TopicSettings(
        events=f"{prefix}-{unique}.events",
        predictions=f"{prefix}-{unique}.predictions",
        prediction_log=f"{prefix}-{unique}.prediction-log",
        labels=f"{prefix}-{unique}.labels",
        dead_letter=f"{prefix}-{unique}.dead-letter",
        retrain_requests=f"{prefix}-{unique}.retrain-requests",
        promotion_decisions=f"{prefix}-{unique}.promotion-decisions",
        monitoring_summaries=f"{prefix}-{unique}.summaries",
        joined_outcomes=f"{prefix}-{unique}.joined",
        status=f"{prefix}-{unique}.status",
    )
