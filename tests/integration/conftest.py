"""Integration fixtures: one embedded broker per session, unique topics per test.

The broker starts only when a test asks for it and is probed with a real
metadata request before use. Tests never wait on sleeps or end offsets (see
BROKER_NOTES: ListOffsets is wrong on this broker); they wait on message counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from streamapp.config import Settings, TopicSettings
from streamapp.kafka.embedded import EmbeddedBroker
from streamapp.kafka.topics import ensure_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """The session's embedded Tansu broker on 127.0.0.1 (free port)."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture(scope="session")
def bootstrap(broker: EmbeddedBroker) -> str:
    return broker.bootstrap_servers


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names of one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic_settings(bootstrap: str, unique: str) -> TopicSettings:
    """A full, freshly created set of topics private to this test."""
    topics = TopicSettings(
        events=f"t-{unique}.events",
        predictions=f"t-{unique}.predictions",
        prediction_log=f"t-{unique}.prediction-log",
        labels=f"t-{unique}.labels",
        dead_letter=f"t-{unique}.dead-letter",
        retrain_requests=f"t-{unique}.retrain-requests",
        monitoring_summaries=f"t-{unique}.summaries",
        joined_outcomes=f"t-{unique}.joined",
    )
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
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for key, value in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(30)
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
def kcat_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for running Debian's ``kcat`` against the embedded broker.

    Debian's librdkafka 2.0.2 misparses Tansu's ApiVersions v3 response ("Read
    underflow"), so kcat is pointed at the newer librdkafka bundled in the
    confluent-kafka wheel via LD_LIBRARY_PATH. kcat itself is unchanged.
    """
    import glob
    import os
    import shutil

    import confluent_kafka

    if shutil.which("kcat") is None:
        pytest.fail("kcat is not installed (scripts/bootstrap.sh installs it)")
    libs_dir = os.path.join(
        os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs"
    )
    bundled = glob.glob(os.path.join(libs_dir, "librdkafka*.so*"))
    env = dict(os.environ)
    if bundled:
        shim = tmp_path_factory.mktemp("rdkafka")
        (shim / "librdkafka.so.1").symlink_to(bundled[0])
        env["LD_LIBRARY_PATH"] = os.pathsep.join([str(shim), libs_dir])
    return env
