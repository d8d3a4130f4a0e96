"""Integration fixtures: unique topics per test on the session's Apache Kafka broker.

The broker (tests/conftest.py) starts only when a test asks for it and is probed
with a real metadata request before use. Tests wait on message counts, never on
sleeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from streamapp.config import Settings
from streamapp.kafka.produce import produce_all as produce
from streamapp.kafka.topics import ensure_topics
from streamapp.settings.topics import TopicSettings
from tests.kafka_support import make_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def topic_settings(bootstrap: str, unique: str) -> TopicSettings:
    """A full, freshly created set of topics private to this test."""
    topics = make_topics("t", unique)
    ensure_topics({"bootstrap.servers": bootstrap}, topics.all_topics())
    return topics


@pytest.fixture
def settings_factory(bootstrap: str, topic_settings: TopicSettings) -> Callable[..., Settings]:
    """Build Settings pointing at the session broker and this test's topics."""

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": topic_settings.model_dump(),
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        return Settings(**base)

    return make


def produce_all(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    """Produce (key, value) records and wait until every one is acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    _sent, remaining, deliveries = produce(producer, topic, records, timeout=30)
    failures = deliveries.errors
    assert remaining == 0 and not failures, f"undelivered: {remaining}, errors: {failures[:3]}"


def consume_n(
    bootstrap: str, topic: str, n: int, timeout: float = 60.0, group: str | None = None
) -> list[Any]:
    """Consume from the beginning until ``n`` messages arrived or ``timeout`` passed."""
    import time

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # Short group timeouts: joins take ~3 s instead of ~25 s on the embedded broker.
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
        }
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < n and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    out.append(msg)
    finally:
        consumer.close()
    return out


@pytest.fixture(scope="session")
def kcat_env() -> dict[str, str]:
    """Environment for Debian's ``kcat`` (its own librdkafka 2.0.2) against Apache Kafka."""
    import os
    import shutil

    if shutil.which("kcat") is None:
        pytest.fail("kcat is not installed (scripts/bootstrap.sh installs it)")
    return dict(os.environ)
