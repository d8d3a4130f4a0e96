"""``models validate`` / ``promote``: conformance checks, and no version without a profile."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from streamapp.cli import app
from tests.scoring_support import copy_version


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_validate_runs_every_runtime_and_the_conformance_checks(model_registry_dir: Path) -> None:
    code, out = _cli("models", "validate", "friedman-reg", "--registry", str(model_registry_dir))
    assert code == 0, out
    assert "ok      friedman-reg/1 onnx on cpu" in out
    assert "ok      friedman-reg/1 torch on cpu" in out


def test_validate_json_lists_every_artifact_like_models_list(model_registry_dir: Path) -> None:
    target = copy_version(model_registry_dir, "friedman-reg", "1", "2")
    (target / "profile.json").unlink()
    result = CliRunner().invoke(
        app, ["models", "validate", "friedman-reg", "--json", "--registry", str(model_registry_dir)]
    )
    assert result.exit_code == 1  # one version is invalid: the same exit code as the lines
    rows = json.loads(result.stdout)  # nothing but the JSON document on stdout
    ok = [(r["version"], r["runtime"], r["device"]) for r in rows if r["status"] == "ok"]
    assert sorted(ok) == [("1", "onnx", "cpu"), ("1", "torch", "cpu")]
    (bad,) = [r for r in rows if r["status"] == "invalid"]
    assert bad["model"] == "friedman-reg" and bad["version"] == "2"
    assert "profile.json is missing" in bad["error"]
    assert set(bad) == {"model", "version", "runtime", "device", "status", "error"}


def test_a_version_without_profile_is_invalid_and_not_promoted(model_registry_dir: Path) -> None:
    target = copy_version(model_registry_dir, "friedman-reg", "1", "2")
    (target / "profile.json").unlink()
    root = str(model_registry_dir)
    code, out = _cli("models", "validate", "friedman-reg", "2", "--registry", root)
    assert code == 1 and "profile.json is missing" in out and "models register" in out
    code, out = _cli("models", "promote", "friedman-reg", "2", "--registry", root)
    assert code == 1 and "not promoted" in out
    assert (model_registry_dir / "friedman-reg" / "production").read_text().strip() == "1"
