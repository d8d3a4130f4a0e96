"""Configuration errors an operator hits: exit 2 and one unwrapped line, the last one
printed, naming the setting or file and the fix (one JSON record under JSON logging)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from streamapp.cli import app


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMAPP_"):
            monkeypatch.delenv(name)


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _last_record(result: Result) -> dict[str, object]:
    """The last stderr line, which must be one JSON record (stderr is not a terminal)."""
    lines = result.stderr.strip().splitlines()
    assert lines, result.output
    record = json.loads(lines[-1])
    assert isinstance(record, dict)
    return record


def _config_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    record = _last_record(result)
    assert record["level"] == "ERROR" and record["exit_code"] == 2
    message = str(record["msg"])
    assert message.startswith("configuration error: ")
    return message


def test_toml_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    cfg = tmp_path / "streamapp.toml"
    cfg.write_text('[kafka]\nbootstrap_servers = "b:9092"\nclient_id = \n')
    message = _config_error(_run("--config", str(cfg), "config", "show"))
    assert str(cfg) in message and "line 3, column 13" in message
    assert "invalid TOML (Invalid value)" in message


def test_toml_typo_suggests_the_setting_it_resembles(tmp_path: Path) -> None:
    cfg = tmp_path / "streamapp.toml"
    cfg.write_text('[kafka]\nsasl_user = "alice"\n')
    message = _config_error(_run("--config", str(cfg), "config", "show"))
    assert f"unknown setting kafka.sasl_user in {cfg}; did you mean kafka.sasl_username?" in message


def test_toml_key_far_from_any_setting_lists_the_section(tmp_path: Path) -> None:
    cfg = tmp_path / "streamapp.toml"
    cfg.write_text("[http]\nbananas = 1\n")
    message = _config_error(_run("--config", str(cfg), "config", "show"))
    assert "unknown setting http.bananas" in message and "[http] has: host, port" in message


def test_unknown_env_variable_suggests_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_USER", "alice")
    message = _config_error(_run("config", "show"))
    assert "STREAMAPP_KAFKA__SASL_USER" in message
    assert "did you mean STREAMAPP_KAFKA__SASL_USERNAME?" in message
    monkeypatch.delenv("STREAMAPP_KAFKA__SASL_USER")
    monkeypatch.setenv("STREAMAPP_SAMPLNG__LOG_RATE", "0.5")
    assert "did you mean STREAMAPP_SAMPLING__LOG_RATE?" in _config_error(_run("config", "show"))


def test_config_directory_is_not_called_missing(tmp_path: Path) -> None:
    message = _config_error(_run("--config", str(tmp_path), "config", "show"))
    assert f"config file {tmp_path} is a directory, not a TOML file" in message
    assert "does not exist" not in message


def test_invalid_value_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMAPP_TOPICS__PARTITIONS", "zero")
    message = _config_error(_run("config", "show"))
    assert "invalid setting topics.partitions (STREAMAPP_TOPICS__PARTITIONS)" in message


def test_text_errors_are_one_line_never_wrapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMAPP_LOG__FORMAT", "text")
    deep = tmp_path / ("a-rather-long-folder-name-" * 4)
    deep.mkdir()
    result = _run("--config", str(deep), "config", "show")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) > 120, lines
    assert lines[0].startswith("configuration error: config file ")


def test_piped_cli_prints_one_json_record_and_nothing_else(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.toml"
    cfg.write_text("[topics\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    done = subprocess.run(
        [sys.executable, "-m", "streamapp", "--config", str(cfg), "config", "show"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    record = json.loads(line)
    assert str(cfg) in record["msg"] and "line 1" in record["msg"]


@pytest.mark.parametrize("command", [["status"], ["score", "--processes", "1"]])
def test_missing_ca_file_is_a_configuration_error(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMAPP_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9")
    monkeypatch.setenv("STREAMAPP_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("STREAMAPP_KAFKA__SSL_CA_LOCATION", str(tmp_path / "ca.pem"))
    message = _config_error(_run(*command))
    assert "STREAMAPP_KAFKA__SSL_CA_LOCATION" in message and "does not exist" in message
    assert "point it at the CA bundle" in message


def test_models_list_of_a_missing_registry_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMAPP_MODEL__REGISTRY", str(tmp_path / "modles"))
    result = _run("models", "list")
    assert result.exit_code == 2 and result.stdout == ""
    message = str(_last_record(result)["msg"])
    assert "model.registry (STREAMAPP_MODEL__REGISTRY)" in message and "does not exist" in message
    result = _run("models", "list", "--registry", str(tmp_path / "nope"))
    assert result.exit_code == 2 and "--registry" in str(_last_record(result)["msg"])


def test_models_list_of_an_empty_registry_is_fine(tmp_path: Path) -> None:
    result = _run("models", "list", "--registry", str(tmp_path), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_promoting_a_candidate_warns_when_candidates_take_no_traffic(
    model_registry_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(model_registry_dir)
    result = _run("models", "promote", "friedman-reg", "1", "--pointer", "candidate",
                  "--registry", root)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "friedman-reg candidate -> 1"
    record = _last_record(result)
    assert record["level"] == "WARNING"
    assert "sampling.candidate_mode is off" in str(record["msg"])
    assert "STREAMAPP_SAMPLING__CANDIDATE_MODE=canary" in str(record["msg"])
    monkeypatch.setenv("STREAMAPP_SAMPLING__CANDIDATE_MODE", "shadow")
    result = _run("models", "promote", "friedman-reg", "1", "--pointer", "candidate",
                  "--registry", root)
    assert result.exit_code == 0 and "candidate_mode" not in result.stderr
    monkeypatch.delenv("STREAMAPP_SAMPLING__CANDIDATE_MODE")
    result = _run("models", "promote", "friedman-reg", "1", "--registry", root)
    assert result.exit_code == 0 and "candidate_mode" not in result.stderr
