from __future__ import annotations

import ast
import doctest
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from streamapp import config as config_module
from streamapp.cli import app
from streamapp.config import ConfigError, load_settings, masked_dump
from streamapp.settings import kafka as settings_kafka
from streamapp.settings import masking as settings_masking
from streamapp.settings import model as settings_model
from streamapp.settings.kafka import KafkaSettings, tls_file_problems


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMAPP_"):
            monkeypatch.delenv(name)


def test_defaults_use_embedded_broker_and_loopback() -> None:
    s = load_settings()
    assert s.kafka.bootstrap_servers is None
    assert s.broker.host == "127.0.0.1"
    assert s.http.host == "127.0.0.1"
    assert s.topics.all_topics()[s.topics.monitoring_summaries] == s.topics.partitions
    assert s.topics.all_topics()[s.topics.retrain_requests] == 1


def test_env_overrides_nested(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMAPP_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1234")
    monkeypatch.setenv("STREAMAPP_TOPICS__PARTITIONS", "8")
    s = load_settings()
    assert s.kafka.bootstrap_servers == "127.0.0.1:1234"
    assert s.topics.partitions == 8
    assert s.topics.all_topics()[s.topics.events] == 8


def test_toml_file_then_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "streamapp.toml"
    cfg.write_text('[topics]\nevents = "from-file"\npartitions = 6\n[sampling]\nlog_rate = 0.5\n')
    monkeypatch.setenv("STREAMAPP_TOPICS__PARTITIONS", "3")
    before = dict(os.environ)
    s = load_settings(cfg)
    assert s.topics.events == "from-file"
    assert s.topics.partitions == 3  # env beats file
    assert s.sampling.log_rate == 0.5
    assert dict(os.environ) == before  # no hidden global state: the environment is untouched
    assert load_settings().topics.events != "from-file"  # the file applied to its call only
    monkeypatch.setenv("STREAMAPP_CONFIG", str(cfg))
    assert load_settings().topics.events == "from-file"


def test_config_composes_role_settings_without_importing_a_role() -> None:
    code = (
        "import sys, streamapp.config\n"
        "print(' '.join(m for m in sys.modules if m.startswith('streamapp.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    roles = ("streamapp.scoring", "streamapp.monitoring", "streamapp.retrain", "streamapp.cli")
    assert [m for m in loaded if m.startswith(roles)] == []
    # ... and nothing config imports imports config back (no cycle).
    for module in loaded:
        if module != "streamapp.config":
            spec = importlib.util.find_spec(module)
            assert spec is not None and spec.origin is not None
            tree = ast.parse(Path(spec.origin).read_text())
            imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                         for a in n.names}
            assert "streamapp.config" not in imported, module


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"STREAMAPP_NOPE": "1"}, "STREAMAPP_NOPE"),
        ({"STREAMAPP_KAFKA__BOOTSTRAP": "x"}, "kafka.bootstrap"),
        ({"STREAMAPP_SAMPLING__LOG_RATE": "2"}, r"sampling\.log_rate"),
        ({"STREAMAPP_KAFKA__SECURITY_PROTOCOL": "SASL_SSL"}, "sasl_mechanism"),
    ],
)
def test_bad_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=needle):
        load_settings()


def test_unknown_key_in_toml_is_rejected(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[topics]\nevnts = 'typo'\n")
    with pytest.raises(ConfigError, match=r"topics\.evnts"):
        load_settings(cfg)


def test_librdkafka_rendering_with_tls_and_sasl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMAPP_KAFKA__BOOTSTRAP_SERVERS", "b:9093")
    monkeypatch.setenv("STREAMAPP_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_USERNAME", "alice")
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("STREAMAPP_KAFKA__SSL_CA_LOCATION", "/etc/ca.pem")
    conf = load_settings().kafka.librdkafka()
    assert conf["bootstrap.servers"] == "b:9093"
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "alice"
    assert conf["sasl.password"] == "hunter2"
    assert conf["ssl.ca.location"] == "/etc/ca.pem"
    assert conf["ssl.endpoint.identification.algorithm"] == "https"


def test_librdkafka_without_servers_fails() -> None:
    with pytest.raises(ConfigError, match="bootstrap_servers"):
        load_settings().kafka.librdkafka()


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMAPP_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_USERNAME", "alice")
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_PASSWORD", "s3cr3t-value")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "s3cr3t-value" not in result.output
    shown = json.loads(result.stdout)
    assert shown["kafka"]["sasl_password"] == "**********"
    assert shown["kafka"]["sasl_username"] == "alice"
    assert "s3cr3t-value" not in json.dumps(masked_dump(load_settings()))


def test_config_show_exits_2_on_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMAPP_TOPICS__PARTITIONS", "zero")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "topics.partitions" in result.output


def test_config_imports_only_settings_modules() -> None:
    """The composer and its sections import no product code (types only, like MLServer's
    settings); the runtime package is reached only through a function call."""
    code = (
        "import sys, streamapp.config\n"
        "print(' '.join(m for m in sys.modules if m.startswith('streamapp')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    allowed = {"streamapp", "streamapp.config", "streamapp.settings", "streamapp.plugins"}
    assert [m for m in loaded if m not in allowed and not m.startswith("streamapp.settings.")] == []


@pytest.mark.parametrize(
    "module", [config_module, settings_kafka, settings_masking, settings_model],
    ids=lambda m: m.__name__,
)
def test_settings_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def _tls(**fields: Any) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers="b:9093", security_protocol="SSL", **fields)


def test_tls_files_are_checked_when_the_cli_loads_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    assert tls_file_problems(_tls(ssl_ca_location=ca)) == []
    assert tls_file_problems(_tls(ssl_ca_location=tmp_path)) == []  # a folder of CAs is fine
    assert tls_file_problems(_tls(extra={"ssl.ca.location": "probe"})) == []
    plaintext = KafkaSettings(ssl_ca_location=tmp_path / "nope")
    assert tls_file_problems(plaintext) == []  # librdkafka does not read it without TLS
    (problem,) = tls_file_problems(_tls(ssl_certificate_location=tmp_path))
    assert problem.startswith("kafka.ssl_certificate_location (STREAMAPP_KAFKA__SSL_CERTIFICATE_")
    assert "is a directory, not a file" in problem
    (problem,) = tls_file_problems(_tls(extra={"ssl.key.location": str(tmp_path / "k.pem")}))
    assert problem.startswith('kafka.extra["ssl.key.location"]: ') and "does not exist" in problem
    monkeypatch.setenv("STREAMAPP_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("STREAMAPP_KAFKA__SSL_CA_LOCATION", str(tmp_path / "missing.pem"))
    assert load_settings().kafka.ssl_ca_location == tmp_path / "missing.pem"  # not asked to
    with pytest.raises(ConfigError, match="STREAMAPP_KAFKA__SSL_CA_LOCATION"):
        load_settings(check_files=True)


def test_config_file_from_the_environment_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMAPP_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml does not exist"):
        load_settings()
    monkeypatch.setenv("STREAMAPP_CONFIG", str(tmp_path))
    with pytest.raises(ConfigError, match="is a directory, not a TOML file"):
        load_settings()


def test_typos_in_nested_tables_suggest_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        '[[model.runtimes]]\nname = "x"\nformat = "y"\nimplementaton = "a.b:C"\n'
        "[monitoring.policy]\nmin_sample = 3\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg)
    message = str(caught.value)
    assert "did you mean model.runtimes.0.implementation?" in message
    assert "did you mean monitoring.policy.min_samples?" in message


def test_unknown_section_suggests_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text("[topic]\nevents = 'e'\n")
    with pytest.raises(ConfigError, match=r"unknown setting topic in .*; did you mean topics"):
        load_settings(cfg)
    monkeypatch.setenv("STREAMAPP_NOPE", "1")
    with pytest.raises(ConfigError, match="no section 'nope'\\); sections: kafka, broker"):
        load_settings()
