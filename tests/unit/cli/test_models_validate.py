"""``models validate`` / ``promote``: conformance checks, and no version without a profile."""

from __future__ import annotations

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


def test_a_version_without_profile_is_invalid_and_not_promoted(model_registry_dir: Path) -> None:
    target = copy_version(model_registry_dir, "friedman-reg", "1", "2")
    (target / "profile.json").unlink()
    root = str(model_registry_dir)
    code, out = _cli("models", "validate", "friedman-reg", "2", "--registry", root)
    assert code == 1 and "profile.json is missing" in out and "models register" in out
    code, out = _cli("models", "promote", "friedman-reg", "2", "--registry", root)
    assert code == 1 and "not promoted" in out
    assert (model_registry_dir / "friedman-reg" / "production").read_text().strip() == "1"
