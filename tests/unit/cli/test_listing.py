"""Listing commands: ``--json`` for scripts, tables never truncated when piped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from streamapp.cli import app

ROOT = Path(__file__).resolve().parents[3]


def test_models_list_json_lists_every_version_with_pointers(model_registry_dir: Path) -> None:
    result = CliRunner().invoke(app, ["models", "list", "--json", "--registry",
                                      str(model_registry_dir)])
    assert result.exit_code == 0, result.output
    rows = {(r["model"], r["version"]): r for r in json.loads(result.output)}
    row = rows[("agrawal-clf", "1")]
    assert row["pointers"] == ["production"]
    assert row["task"] == "binary_classification"
    assert "onnx" in row["artifacts"] and "accuracy" in row["baseline"]


def test_models_list_piped_to_another_process_is_not_truncated(model_registry_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "streamapp", "models", "list", "--registry",
         str(model_registry_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "40"},
    )
    assert "binary_classification" in proc.stdout
    assert "…" not in proc.stdout
    assert "accuracy=" in proc.stdout
