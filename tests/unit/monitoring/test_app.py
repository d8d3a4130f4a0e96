"""The faust wiring and the CLI entry point, without a broker (nothing connects)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from streamapp.cli import app as cli
from streamapp.config import Settings
from streamapp.monitoring.app import build_app


def test_build_app_declares_both_agents_tables_and_the_embedded_profile() -> None:
    settings = Settings(
        monitoring={"app_id": "mon-unit", "embedded_profile": True},  # type: ignore[arg-type]
        topics={"partitions": 3},  # type: ignore[arg-type]
    )
    monitor = build_app(settings, "127.0.0.1:9", CollectorRegistry())
    app = monitor.app
    assert {a.split(".")[-1] for a in app.agents} == {"join", "aggregate"}
    assert {name: t.partitions for name, t in app.tables.items()} == {"join": 3, "policy": 1}
    assert app.conf.producer_max_batch_size == 1
    assert app.conf.broker_session_timeout == 6.0
    assert app.conf.web_enabled is False
    assert monitor.ready() is False  # not started


def test_without_the_profile_faust_keeps_its_producer_defaults() -> None:
    monitor = build_app(Settings(), "127.0.0.1:9", CollectorRegistry())
    assert monitor.app.conf.producer_max_batch_size > 1


def test_monitor_command_is_registered() -> None:
    result = CliRunner().invoke(cli, ["monitor", "--help"])
    assert result.exit_code == 0
    assert "monitor worker" in result.output


def test_sasl_ssl_settings_reach_faust_as_broker_credentials() -> None:
    import ssl

    settings = Settings(
        kafka={  # type: ignore[arg-type]
            "bootstrap_servers": "kafka-1:9093",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "monitor",
            "sasl_password": "s3cret",
        }
    )
    creds = build_app(settings, "kafka-1:9093", CollectorRegistry()).app.conf.broker_credentials
    assert creds.username == "monitor" and creds.password == "s3cret"
    assert creds.mechanism.value == "SCRAM-SHA-512" and creds.protocol.value == "SASL_SSL"
    assert creds.ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_plaintext_has_no_credentials_and_ssl_has_a_verifying_context() -> None:
    from streamapp.config import KafkaSettings
    from streamapp.monitoring.credentials import faust_credentials

    assert faust_credentials(KafkaSettings()) is None
    ssl_only = faust_credentials(
        KafkaSettings(security_protocol="SSL", ssl_endpoint_identification=False)
    )
    assert ssl_only is not None and ssl_only.protocol.value == "SSL"
    assert ssl_only.context.check_hostname is False  # type: ignore[attr-defined]


def test_internal_topics_have_the_partition_counts_faust_expects() -> None:
    from streamapp.monitoring.app import internal_topics

    settings = Settings(monitoring={"app_id": "m1"}, topics={"partitions": 3})  # type: ignore[arg-type]
    app = build_app(settings, "127.0.0.1:9", CollectorRegistry()).app
    assert internal_topics(app) == {
        "m1-join-changelog": 3,
        "m1-policy-changelog": 1,
        "m1-__assignor-__leader": 1,
    }
