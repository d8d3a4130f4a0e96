"""The embedded broker, topic creation and the CLI against the real Tansu binary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streamapp.config import BrokerSettings, Settings, TopicSettings
from streamapp.kafka.embedded import BrokerError, EmbeddedBroker, kafka_bootstrap
from streamapp.kafka.topics import TopicError, ensure_topics
from tests.integration.conftest import consume_n, produce_all

pytestmark = pytest.mark.integration


def test_broker_answers_metadata_and_roundtrips(bootstrap: str, unique: str) -> None:
    topic = f"rt-{unique}"
    ensure_topics({"bootstrap.servers": bootstrap}, {topic: 2})
    produce_all(bootstrap, topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(50)])
    got = consume_n(bootstrap, topic, 50, timeout=30)
    assert sorted(m.value() for m in got) == sorted(f"v{i}".encode() for i in range(50))


def test_topics_created_idempotently_with_partitions(
    bootstrap: str, topic_settings: TopicSettings
) -> None:
    again = ensure_topics({"bootstrap.servers": bootstrap}, topic_settings.all_topics())
    assert all(not s.created for s in again)
    meta = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    for name, parts in topic_settings.all_topics().items():
        assert len(meta[name].partitions) == parts
    assert len(meta[topic_settings.monitoring_summaries].partitions) == 1


def test_partition_mismatch_is_reported(bootstrap: str, unique: str) -> None:
    ensure_topics({"bootstrap.servers": bootstrap}, {f"pm-{unique}": 2})
    with pytest.raises(TopicError, match="has 2 partitions, configured 3"):
        ensure_topics({"bootstrap.servers": bootstrap}, {f"pm-{unique}": 3})


def test_kcat_lists_created_topics(
    bootstrap: str, topic_settings: TopicSettings, kcat_env: dict[str, str]
) -> None:
    """A real third-party client (kcat) sees every configured topic and partition count."""
    out = subprocess.run(
        ["kcat", "-b", bootstrap, "-L", "-J", "-m", "10"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=kcat_env,
    )

    listed = {t["topic"]: len(t["partitions"]) for t in json.loads(out.stdout)["topics"]}
    for name, parts in topic_settings.all_topics().items():
        assert listed.get(name) == parts


def test_configured_cluster_never_starts_a_broker(bootstrap: str) -> None:
    settings = Settings(kafka={"bootstrap_servers": bootstrap})
    with kafka_bootstrap(settings) as servers:
        assert servers == bootstrap


def test_missing_binary_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="STREAMAPP_BROKER__BINARY"):
        EmbeddedBroker(BrokerSettings(binary=tmp_path / "nope"))


def test_cli_broker_prints_address_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamapp", "broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address.startswith("127.0.0.1:")
        meta = AdminClient({"bootstrap.servers": address}).list_topics(timeout=10).topics
        assert Settings().topics.events in meta
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_topics_create_against_configured_cluster(bootstrap: str, unique: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env["STREAMAPP_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    env["STREAMAPP_TOPICS__EVENTS"] = f"cli-{unique}.events"
    out = subprocess.run(
        [sys.executable, "-m", "streamapp", "topics", "create"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"created cli-{unique}.events partitions=4" in out.stdout
    again = subprocess.run(
        [sys.executable, "-m", "streamapp", "topics", "create"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert f"exists  cli-{unique}.events partitions=4" in again.stdout
