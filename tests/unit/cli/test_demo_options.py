"""``streamapp demo --format``: a bad choice, or ``avro`` with no registry to start, exits 2
with one line before any broker or worker starts (none runs here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import streamapp.brokers.schema_registry as schema_registry
from streamapp.cli import app

TEXT_LOGS = {"STREAMAPP_LOG__FORMAT": "text"}


@pytest.fixture(autouse=True)
def _no_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMAPP_SCHEMA_REGISTRY__URL", raising=False)
    monkeypatch.delenv("STREAMAPP_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv(schema_registry.JAVA_ENV, raising=False)


def _demo(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(
        app, ["demo", "--local-broker", "--out", str(tmp_path / "out"), *args], env=TEXT_LOGS
    )
    assert not (tmp_path / "out").exists()  # refused before anything started
    return result.exit_code, result.output.strip().splitlines()


def test_avro_without_apicurio_exits_2_naming_the_install_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema_registry, "CHECKOUT", tmp_path)
    code, lines = _demo(tmp_path, "--format", "avro")
    assert code == 2 and len(lines) == 1, lines
    assert "--format avro" in lines[0] and "scripts/install-apicurio.sh" in lines[0]


def test_avro_without_java_21_exits_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = schema_registry.find_java21
    monkeypatch.setattr(schema_registry, "find_apicurio", lambda: tmp_path)
    monkeypatch.setattr(schema_registry, "find_java21", lambda: real(tmp_path / "no-jvm"))
    code, lines = _demo(tmp_path, "--format", "avro")
    assert code == 2 and len(lines) == 1, lines
    assert "Java 21+" in lines[0] and schema_registry.JAVA_ENV in lines[0]


def test_an_unknown_format_exits_2_naming_the_choices(tmp_path: Path) -> None:
    code, lines = _demo(tmp_path, "--format", "protobuf")
    assert code == 2 and lines == ["error: --format 'protobuf': expected one of json, avro"]
