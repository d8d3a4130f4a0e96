"""Apache Kafka (the reference broker), topic creation and the CLI, against real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streamapp.brokers import (
    ApacheKafka,
    BrokerError,
    TansuBroker,
    embedded_broker,
)
from streamapp.config import BrokerSettings, Settings, TopicSettings
from streamapp.host import resolve_cluster
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
    assert len(meta[topic_settings.retrain_requests].partitions) == 1


def test_partition_mismatch_is_reported(bootstrap: str, unique: str) -> None:
    ensure_topics({"bootstrap.servers": bootstrap}, {f"pm-{unique}": 2})
    with pytest.raises(TopicError, match="has 2 partitions, configured 3"):
        ensure_topics({"bootstrap.servers": bootstrap}, {f"pm-{unique}": 3})


def test_debian_kcat_lists_produces_and_consumes(
    bootstrap: str, topic_settings: TopicSettings, kcat_env: dict[str, str]
) -> None:
    """Debian's kcat (its own librdkafka 2.0.2, no shim) works against Apache Kafka 4."""
    listed_out = subprocess.run(
        ["kcat", "-b", bootstrap, "-L", "-J", "-m", "10"],
        capture_output=True, text=True, timeout=30, check=True, env=kcat_env,
    )  # fmt: skip
    listed = {t["topic"]: len(t["partitions"]) for t in json.loads(listed_out.stdout)["topics"]}
    for name, parts in topic_settings.all_topics().items():
        assert listed.get(name) == parts
    topic = topic_settings.labels
    subprocess.run(
        ["kcat", "-b", bootstrap, "-P", "-t", topic, "-K", ":"],
        input="e-1:one\ne-2:two\n", text=True, timeout=30, check=True, env=kcat_env,
    )  # fmt: skip
    got = consume_n(bootstrap, topic, 2, timeout=30)
    assert sorted((m.key(), m.value()) for m in got) == [(b"e-1", b"one"), (b"e-2", b"two")]
    read = subprocess.run(
        ["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k=%s\\n"],
        capture_output=True, text=True, timeout=30, check=True, env=kcat_env,
    )  # fmt: skip
    assert sorted(read.stdout.split()) == ["e-1=one", "e-2=two"]


def test_configured_cluster_never_starts_a_broker(bootstrap: str) -> None:
    settings = Settings(kafka={"bootstrap_servers": bootstrap})
    with resolve_cluster(settings, "score", local_broker=True) as servers:
        assert servers == bootstrap


def test_auto_prefers_apache_kafka_and_falls_back_to_tansu(tmp_path: Path) -> None:
    assert isinstance(embedded_broker(BrokerSettings()), ApacheKafka)
    no_kafka = BrokerSettings(kafka_libs=tmp_path)
    assert isinstance(embedded_broker(no_kafka), TansuBroker)
    with pytest.raises(BrokerError, match="STREAMAPP_BROKER__KAFKA_LIBS"):
        embedded_broker(no_kafka.model_copy(update={"kind": "kafka"}))


def test_persistent_data_dir_survives_a_restart(tmp_path: Path, unique: str) -> None:
    """With ``data_dir`` the log, committed offsets and the address survive a restart."""
    settings = BrokerSettings(data_dir=tmp_path / "kafka")
    topic = f"durable-{unique}"
    with ApacheKafka(settings) as first:
        address = first.bootstrap_servers
        ensure_topics(first.client_conf(), {topic: 2})
        produce_all(address, topic, [(f"k{i}".encode(), b"v") for i in range(100)])
    with ApacheKafka(settings) as second:
        assert second.bootstrap_servers == address
        assert len(consume_n(address, topic, 100, timeout=30)) == 100


def _cli(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    return subprocess.Popen(
        [sys.executable, "-m", "streamapp", "broker", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["kafka", "tansu"])
def test_cli_broker_prints_address_and_stops_on_sigterm(kind: str) -> None:
    proc = _cli("--kind", kind)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        meta = AdminClient({"bootstrap.servers": address}).list_topics(timeout=10).topics
        assert Settings().topics.events in meta
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_topics_create_against_configured_cluster(bootstrap: str, unique: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env["STREAMAPP_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    env["STREAMAPP_TOPICS__EVENTS"] = f"cli-{unique}.events"
    cmd = [sys.executable, "-m", "streamapp", "topics", "create"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"created cli-{unique}.events partitions=4" in out.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert f"exists  cli-{unique}.events partitions=4" in again.stdout


def test_a_worker_starts_a_local_broker_only_when_asked(tmp_path: Path) -> None:
    """``--local-broker``: a development broker for the command's lifetime, topics created."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update(STREAMAPP_LOG__FORMAT="json", STREAMAPP_MODEL__REGISTRY=str(tmp_path / "models"))
    cmd = [sys.executable, "-m", "streamapp", "retrain", "--max-requests", "0"]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 2 and "--local-broker" in refused.stdout + refused.stderr
    local = subprocess.run([*cmd, "--local-broker"], capture_output=True, text=True, env=env,
                           timeout=180)
    assert local.returncode == 0, (local.stdout + local.stderr)[-3000:]
    output = (local.stdout + local.stderr).splitlines()
    records = [json.loads(line) for line in output if line.startswith("{")]
    (started,) = [r for r in records if str(r["msg"]).startswith("local kafka broker at")]
    assert "development only" in str(started["msg"])
