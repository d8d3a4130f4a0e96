"""Converters: failures in one line with their root cause and fix, pipelines that select
columns by name, LightGBM splits on float32 inputs, and the register command's help."""

from __future__ import annotations

import doctest
import logging
import time
import traceback
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

from streamapp.cli import app
from streamapp.registration import RegistrationError, failures, register, thresholds
from streamapp.registration.frame import encode_frame, infer_features
from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.loader import load_model


@pytest.fixture
def protobuf7_rejects_bools(monkeypatch: pytest.MonkeyPatch) -> None:
    """protobuf 7's rule where protobuf 6 only warns: a bool in an integer list attribute
    raises. Installed where skl2onnx builds its nodes (onnx.helper.make_node)."""
    import onnx.helper

    make_attribute = onnx.helper.make_attribute

    def strict(key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, list) and any(isinstance(v, bool) for v in value):
            raise TypeError("Field onnx.AttributeProto.ints: Expected an int, got a boolean.")
        return make_attribute(key, value, *args, **kwargs)

    monkeypatch.setattr(onnx.helper, "make_attribute", strict)


def _hgb() -> tuple[HistGradientBoostingRegressor, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=600), "b": rng.integers(0, 9, 600)})
    y = frame.a.to_numpy() + rng.normal(size=600)
    return HistGradientBoostingRegressor(max_iter=60).fit(frame, y), frame, y


@pytest.mark.usefixtures("protobuf7_rejects_bools")
def test_a_converter_failure_is_one_line_with_its_root_cause_and_fix(tmp_path: Path) -> None:
    model, frame, y = _hgb()
    started = time.perf_counter()
    with pytest.raises(RegistrationError) as caught:
        register(model, frame, y, name="hgb", registry=tmp_path, drift_target=None)
    seconds = time.perf_counter() - started
    message = str(caught.value)
    assert "\n" not in message and len(message) < 700, message
    assert "HistGradientBoostingRegressor" in message and "skl2onnx" in message
    assert "Expected an int, got a boolean" in message  # the root cause
    assert "pip install 'protobuf<7'" in message  # what to do
    shown = "".join(traceback.format_exception(caught.value))
    assert len(shown.splitlines()) < 80 and len(shown) < 10_000, shown[-2000:]
    assert seconds < 10
    assert ModelRegistry(tmp_path).versions("hgb") == []


def test_hist_gradient_boosting_fitted_on_float64_registers(tmp_path: Path) -> None:
    """Fails where protobuf >= 7 is installed with skl2onnx <= 1.20 (the register extra's
    bound keeps it out), and where thresholds are rounded to the nearest float32: the
    model's thresholds are training values, which float32 inputs then straddle."""
    model, frame, y = _hgb()
    result = register(model, frame, y, name="hgb", registry=tmp_path, drift_target=None)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5


@pytest.mark.usefixtures("protobuf7_rejects_bools")
def test_the_cli_reports_a_converter_failure_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as in a fresh process: no handler an earlier CLI test installed (JSON, closed stream)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    model, frame, y = _hgb()
    joblib.dump(model, tmp_path / "hgb.joblib")
    frame.assign(y=y).to_parquet(tmp_path / "ref.parquet")
    args = ["models", "register", str(tmp_path / "hgb.joblib"), "--name", "hgb",
            "--data", str(tmp_path / "ref.parquet"), "--label", "y", "--drift-target", "0",
            "--registry", str(tmp_path / "reg"), "--allow-pickle-code-execution"]
    result = CliRunner().invoke(app, args, env={"TERMINAL_WIDTH": "100"})
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output[:3000]
    assert lines[0].startswith("error: not registered: cannot convert HistGradientBoosting")
    assert "Expected an int, got a boolean" in lines[0]
    assert "pip install 'protobuf<7'" in lines[0]  # rich markup leaves it whole


def test_a_pipeline_fitted_on_text_categories_is_refused_with_the_fix(tmp_path: Path) -> None:
    frame, y = _plans()
    model = _pipeline().fit(frame, y)
    with pytest.raises(RegistrationError) as caught:
        register(model, frame, y, name="p", registry=tmp_path, drift_target=None)
    message = str(caught.value)
    assert "\n" not in message
    assert "OneHotEncoder was fitted on the text categories ['basic', 'plus', 'pro']" in message
    assert "of 'plan'" in message and "fit the pipeline on the encoded frame" in message


def test_a_pipeline_selecting_columns_by_name_gets_one_input(tmp_path: Path) -> None:
    frame, y = _plans()
    frame = frame.rename(columns={"usage": "features"})  # the ONNX input's own name
    codes = pd.DataFrame(encode_frame(frame, infer_features(frame)), columns=frame.columns)
    model = _pipeline(numeric=["features"]).fit(codes, y)
    result = register(model, frame, y, name="p", registry=tmp_path, drift_target=None)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5
    import onnx

    graph = onnx.load(str(result.version.path / "model.onnx")).graph
    assert [(i.name, i.type.tensor_type.shape.dim[1].dim_value) for i in graph.input] == [
        (result.version.manifest.input_name, 2)
    ]


def test_lightgbm_splits_float32_inputs_where_lightgbm_does(tmp_path: Path) -> None:
    # trained on odd tenths, served on even ones: each split midpoint rounds (to nearest
    # float32) onto a served value unless the threshold is rounded down
    train = np.round(np.arange(1001, 1100, 2) / 10, 1)
    served = np.round(np.arange(1002, 1100, 2) / 10, 1).astype(np.float32)
    frame = pd.DataFrame({"x": np.tile(train, 8)})
    y = np.sin(frame.x.to_numpy() * 3.0)
    model = lightgbm.LGBMRegressor(n_estimators=5, min_child_samples=2, verbose=-1)
    model.fit(frame.astype(np.float32), y)
    register(model, frame, y, name="lgb", registry=tmp_path, drift_target=None)
    scorer = load_model(ModelRegistry(tmp_path).get("lgb", "1"), "auto", "cpu")
    got = scorer.predict(served.reshape(-1, 1))[:, 0]
    want = model.predict(pd.DataFrame({"x": served}))
    assert np.abs(got - want).max() <= 1e-5


def test_import_failures_say_whether_to_install_or_upgrade() -> None:
    missing = ModuleNotFoundError("No module named 'skl2onnx'", name="skl2onnx")
    assert "pip install 'streamapp[register]'" in str(
        failures.import_error("sklearn", "skl2onnx", missing)
    )
    broken = ImportError("cannot import name 'mapping' from 'onnx'")
    message = str(failures.import_error("sklearn", "skl2onnx", broken))
    assert "does not import with onnx" in message and "pip install --upgrade" in message


def test_known_root_causes_name_their_fix() -> None:
    try:
        try:
            raise ValueError("could not convert string to float: '[5E-1]'")
        except ValueError as inner:
            raise RuntimeError("node dump\n" * 5000) from inner
    except RuntimeError as outer:
        error = failures.conversion_error("XGBClassifier", "onnxmltools", outer)
    assert "pip install 'onnxmltools>=1.15'" in str(error) and "\n" not in str(error)
    unknown = failures.conversion_error("Custom", "skl2onnx", RuntimeError("x" * 5000))
    assert str(unknown).endswith(failures.GENERAL_FIX) and "x" * 240 not in str(unknown)
    assert failures.readable_cause(RuntimeError("x" * 5000)) is None


def test_doctests() -> None:
    assert doctest.testmod(failures).failed == 0
    assert doctest.testmod(thresholds).failed == 0


def test_register_help_shows_the_extra_and_plain_flags() -> None:
    result = CliRunner().invoke(app, ["models", "register", "--help"],
                                env={"TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0
    text = result.output
    assert "pip install 'streamapp[register]'" in text
    assert "--no-ranges" in text and "--no-no-ranges" not in text
    assert "--allow-pickle-code-execution" in text and "--no-allow-pickle" not in text
    for metavar in ("MODEL_FILE", "NAME=MIN:MAX", "--holdout", "MODULE:FUNCTION"):
        assert metavar in text


def _plans() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"usage": rng.normal(50, 20, 400).round(1),
                          "plan": rng.choice(["basic", "plus", "pro"], 400)})
    y = np.where(frame.usage + 20 * (frame.plan == "pro") > 55, "churn", "stay")
    return frame, y


def _pipeline(numeric: list[str] | None = None) -> Pipeline:
    prep = ColumnTransformer([("num", StandardScaler(), numeric or ["usage"]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])])
    return Pipeline([("prep", prep), ("model", LogisticRegression())])
