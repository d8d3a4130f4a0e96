"""Apache Kafka broker configuration and credential classification, without starting a JVM."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from streamapp.brokers.apache import ApacheKafka, ClassDataArchive, _cluster_id
from streamapp.config import BrokerSettings
from streamapp.kafka.credentials import KafkaAuthError, auth_failure


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


@pytest.fixture
def libs(tmp_path: Path) -> Path:
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "kafka_2.13-4.1.1.jar").write_bytes(b"")
    return folder


def test_three_nodes_replicate_three_ways_with_two_in_sync(libs: Path, tmp_path: Path) -> None:
    cluster = ApacheKafka(BrokerSettings(kafka_libs=libs), nodes=3, data_dir=tmp_path / "d")
    props = [_props(cluster._properties(n)) for n in (1, 2, 3)]
    assert {p["node.id"] for p in props} == {"1", "2", "3"}
    assert len({p["controller.quorum.voters"] for p in props}) == 1
    assert props[0]["controller.quorum.voters"].count("@127.0.0.1:") == 3
    for p in props:
        assert p["default.replication.factor"] == "3"
        assert p["min.insync.replicas"] == "2"
        assert p["transaction.state.log.min.isr"] == "2"
        assert all("127.0.0.1" in url for url in p["listeners"].split(","))
    assert len(cluster.bootstrap_servers.split(",")) == 3


def test_layout_is_kept_so_a_restart_reuses_the_addresses(libs: Path, tmp_path: Path) -> None:
    settings = BrokerSettings(kafka_libs=libs, data_dir=tmp_path / "d")
    first = ApacheKafka(settings)
    again = ApacheKafka(settings)
    assert again.bootstrap_servers == first.bootstrap_servers
    assert again.cluster_id == first.cluster_id


def test_scram_listener_is_sasl_ssl(libs: Path, tmp_path: Path) -> None:
    broker = ApacheKafka(
        BrokerSettings(kafka_libs=libs), scram_users={"app": "pw"}, data_dir=tmp_path / "d"
    )
    props = _props(broker._properties(1))
    assert "SASL_SSL://127.0.0.1:" in props["listeners"]
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert broker.ssl  # SASL_SSL implies TLS material


def test_cluster_ids_never_start_with_a_dash() -> None:
    assert all(not _cluster_id().startswith("-") and len(_cluster_id()) == 22 for _ in range(500))


def test_class_data_archive_dumps_once_then_maps(libs: Path) -> None:
    archive = ClassDataArchive("java", libs)
    dump = archive.flags(dump=True)
    assert dump and dump[0].startswith("-XX:ArchiveClassesAtExit=")
    assert archive.flags(dump=True) == []  # one dumping JVM at a time
    assert archive.pending is not None
    archive.pending.write_bytes(b"archive")
    archive.commit()
    assert archive.flags(dump=True) == [f"-XX:SharedArchiveFile={archive.path}"]


@pytest.mark.parametrize(
    ("code", "text", "names"),
    [
        (KafkaError._AUTHENTICATION, "SASL authentication error", "SASL_PASSWORD"),
        (KafkaError._SSL, "SSL handshake failed: certificate verify failed", "SSL_CA_LOCATION"),
    ],
)
def test_rejected_credentials_name_the_setting(code: int, text: str, names: str) -> None:
    failure = auth_failure(KafkaError(code, text))
    assert isinstance(failure, KafkaAuthError)
    assert f"STREAMAPP_KAFKA__{names}" in str(failure)


def test_outages_are_not_configuration_errors() -> None:
    assert auth_failure(KafkaError(KafkaError._TRANSPORT, "Connection refused")) is None
    assert auth_failure(KafkaError(KafkaError._ALL_BROKERS_DOWN)) is None


def test_a_temp_cluster_never_started_leaves_no_directory(libs: Path) -> None:
    cluster = ApacheKafka(BrokerSettings(kafka_libs=libs))
    root = cluster.root
    assert (root / "cluster.json").is_file()
    del cluster
    gc.collect()
    assert not root.exists()


def test_a_given_data_dir_is_kept_after_stop(libs: Path, tmp_path: Path) -> None:
    cluster = ApacheKafka(BrokerSettings(kafka_libs=libs), data_dir=tmp_path / "d")
    cluster.stop()
    assert (tmp_path / "d" / "cluster.json").is_file()
