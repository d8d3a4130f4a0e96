"""``models calibrate`` / ``models list``: a version's drift calibration, written and shown."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from streamapp.cli import app
from streamapp.registry.registry import ModelRegistry, verified_profile

WIDE = {"COLUMNS": "400"}


def test_calibrate_writes_the_profile_and_list_shows_it(model_registry_dir: Path) -> None:
    root = str(model_registry_dir)
    before = CliRunner().invoke(app, ["models", "list", "--registry", root], env=WIDE)
    assert before.exit_code == 0 and "calibration" in before.output
    result = CliRunner().invoke(
        app,
        ["models", "calibrate", "friedman-reg", "1", "--registry", root, "--drift-window", "500",
         "--drift-target", "1e5", "--drift-bootstrap", "30"],
    )
    assert result.exit_code == 0, result.output
    assert "W=500: features psi>" in result.output
    cal = verified_profile(ModelRegistry(model_registry_dir).get("friedman-reg", "1")).calibration
    assert cal is not None and cal.bootstrap == 30 and cal.windows[0].window == 500
    assert cal.windows[0].prediction_drift is not None
    assert cal.windows[0].prediction_drift.target_run_length == 1e5
    listed = CliRunner().invoke(app, ["models", "list", "--registry", root], env=WIDE)
    assert "W=500: features psi>" in listed.output and "1 per 1e+05 events, B=30" in listed.output
    missing = CliRunner().invoke(app, ["models", "calibrate", "nope", "1", "--registry", root])
    assert missing.exit_code != 0 and "not calibrated" in missing.output
