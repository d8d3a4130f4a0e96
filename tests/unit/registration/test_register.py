"""``register()`` and ``streamapp models register``: one call, a complete validated version."""

from __future__ import annotations

import subprocess
import sys
from itertools import islice
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from river.datasets import synth
from sklearn import metrics as skm
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from typer.testing import CliRunner

from streamapp.cli import app
from streamapp.processing import columns
from streamapp.registration import RegistrationError, register
from streamapp.registry.registry import ModelRegistry, verified_profile
from streamapp.runtime.base import ModelLoadError
from streamapp.runtime.loader import load_model
from tests.unit.registration import userpkg

PRE = "tests.unit.registration.userpkg:encode"


def _friedman(n: int = 1500) -> tuple[pd.DataFrame, np.ndarray]:
    rows = list(islice(synth.FriedmanDrift(seed=42), n))
    frame = pd.DataFrame([{f"x{k}": v for k, v in x.items()} for x, _ in rows])
    return frame, np.array([y for _, y in rows])


@pytest.fixture(scope="module")
def gbr() -> tuple[GradientBoostingRegressor, pd.DataFrame, np.ndarray]:
    frame, y = _friedman()
    return GradientBoostingRegressor(n_estimators=60, random_state=0).fit(frame, y), frame, y


def test_sklearn_regressor_registers_with_everything_a_version_needs(
    tmp_path: Path, gbr: tuple[GradientBoostingRegressor, pd.DataFrame, np.ndarray]
) -> None:
    model, frame, y = gbr
    result = register(model, frame, y, name="fr", registry=tmp_path)
    mv = result.version
    assert (mv.name, mv.version, result.promoted) == ("fr", "1", "production")
    assert {p.name for p in result.files} == {
        "manifest.json", "model.onnx", "profile.json", "reference.npy"
    }
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    cal = verified_profile(mv).calibration
    assert cal is not None and cal.bootstrap == 200 and [w.window for w in cal.windows] == [2000]
    drift = cal.windows[0].feature_drift
    assert drift is not None and drift.target_run_length == 1e6
    assert set(drift.thresholds) == set(frame.columns)
    assert all(0 < v < 0.25 for v in drift.thresholds.values())
    est = verified_profile(mv).estimator
    assert est is not None and est.method == "dle-additive"
    assert set(est.effects["abs"]) == {*frame.columns, "prediction"}
    m = mv.manifest
    assert m.feature_names == list(frame.columns) and m.trainer is not None
    assert m.training["estimator"] == "sklearn.ensemble._gb:GradientBoostingRegressor"
    served = load_model(mv, "onnx", "cpu").predict(frame.to_numpy(np.float32))[:, 0]
    assert np.abs(served - model.predict(frame)).max() <= 1e-4
    assert m.baseline_metrics["r2"] == pytest.approx(
        skm.r2_score(*_split(y, served, m.baseline_metrics)), abs=1e-6
    )
    again = register(model, frame, y, name="fr", registry=tmp_path)
    assert again.version.version == "2" and again.promoted is None  # production already set


def _split(y: np.ndarray, served: np.ndarray, metrics: dict[str, float]) -> tuple:
    picked = np.random.default_rng(0).permutation(len(y))[: int(metrics["n_validation"])]
    return y[picked], served[picked]


def test_classifier_behind_a_custom_preprocessor(tmp_path: Path) -> None:
    cols, y = userpkg.churn_data(2000)
    frame = pd.DataFrame(cols)
    clf = GradientBoostingClassifier(n_estimators=40, random_state=0)
    clf.fit(userpkg.encode(cols), y)
    result = register(clf, frame, y, name="churn", registry=tmp_path, pre=PRE)
    m = result.version.manifest
    assert m.output.classes == ["churn", "stay"] and m.task.value == "binary_classification"
    assert m.processing is not None and m.processing.input_width == 5
    assert [f.type for f in m.features] == ["numeric", "numeric", "categorical"]
    served = load_model(result.version, "onnx", "cpu")
    rows = np.load(result.version.path / "reference.npy")
    expected = clf.predict_proba(userpkg.encode(columns(m.features, rows)))
    assert np.abs(served.predict(rows) - expected).max() <= 1e-4
    assert m.baseline_metrics["accuracy"] > 0.6
    est = verified_profile(result.version).estimator
    assert est is not None and est.method == "cbpe" and len(est.calibrated) == 100
    assert est.samples == m.baseline_metrics["n_validation"]


def test_lightgbm_regressor_is_converted_with_onnxmltools(tmp_path: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    frame, y = _friedman(800)
    model = lightgbm.LGBMRegressor(n_estimators=40, verbose=-1).fit(frame, y)
    result = register(model, frame, y, name="lgb", registry=tmp_path)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    assert result.version.manifest.training["source"] == "lightgbm"


def test_failures_leave_nothing_behind(
    tmp_path: Path, gbr: tuple[GradientBoostingRegressor, pd.DataFrame, np.ndarray]
) -> None:
    model, frame, y = gbr
    with pytest.raises(RegistrationError, match="differ from the source model"):
        register(model, frame, y, name="fr", registry=tmp_path, tolerance=-1.0)
    with pytest.raises(RegistrationError, match="missing values; drop or impute"):
        register(model, frame.assign(x0=np.nan), y, name="fr", registry=tmp_path)
    with pytest.raises(RegistrationError, match="label column 'nope'"):
        register(model, frame, "nope", name="fr", registry=tmp_path)
    assert ModelRegistry(tmp_path).versions("fr") == []
    assert not any((tmp_path / "fr").glob(".*")) if (tmp_path / "fr").exists() else True


def test_pickles_need_the_flag_that_says_they_execute_code(
    tmp_path: Path, gbr: tuple[GradientBoostingRegressor, pd.DataFrame, np.ndarray]
) -> None:
    model, frame, y = gbr
    joblib.dump(model, tmp_path / "model.joblib")
    with pytest.raises(RegistrationError, match="executes code"):
        register(tmp_path / "model.joblib", frame, y, name="fr", registry=tmp_path / "reg")
    made = register(tmp_path / "model.joblib", frame, y, name="fr", registry=tmp_path / "reg",
                    allow_pickle=True)
    assert made.max_abs_diff is not None


def test_onnx_exporter_pitfalls_name_their_fix(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    cols, y = userpkg.churn_data(300)
    x = userpkg.encode(cols)
    clf = GradientBoostingClassifier(n_estimators=5).fit(x, y)
    cases = [
        (to_onnx(clf, x[:1]), "classification", "zipmap"),
        (to_onnx(clf, initial_types=[("features", FloatTensorType([1, 5]))],
                 options={"zipmap": False}), "classification", "dynamic batch axis"),
        (to_onnx(LinearRegression().fit(x.astype(np.float64), x[:, 0]),
                 initial_types=[("features", DoubleTensorType([None, 5]))]),
         "regression", "FloatTensorType"),
    ]
    for i, (proto, task, fix) in enumerate(cases):
        path = tmp_path / f"m{i}.onnx"
        path.write_bytes(proto.SerializeToString())
        kwargs: dict[str, Any] = {"task": task}
        if task != "regression":
            kwargs["classes"] = ["churn", "stay"]
        with pytest.raises((RegistrationError, ModelLoadError), match=fix):
            register(path, pd.DataFrame(x, columns=list("abcde")), name=f"m{i}",
                     registry=tmp_path / "reg", **kwargs)


def test_cli_registers_from_parquet_and_prints_what_it_wrote(
    tmp_path: Path, gbr: tuple[GradientBoostingRegressor, pd.DataFrame, np.ndarray]
) -> None:
    model, frame, y = gbr
    joblib.dump(model, tmp_path / "model.joblib")
    frame.assign(y=y).to_parquet(tmp_path / "ref.parquet")
    args = ["models", "register", str(tmp_path / "model.joblib"), "--name", "fr",
            "--data", str(tmp_path / "ref.parquet"), "--label", "y",
            "--registry", str(tmp_path / "reg"), "--range", "x0=-1:2", "--drift-window", "1000",
            "--drift-bootstrap", "40"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "executes code" in result.output
    result = CliRunner().invoke(app, [*args, "--allow-pickle-code-execution"])
    assert result.exit_code == 0, result.output
    for text in ("registered fr/1 (regression)", "wrote model.onnx", "sha256", "max |artifact",
                 "pointer: production", "r2=", "drift calibration: W=1000: features psi>"):
        assert text in result.output
    listed = CliRunner().invoke(app, ["models", "list", "--registry", str(tmp_path / "reg")])
    assert listed.exit_code == 0 and "W=1000" in listed.output, listed.output
    spec = ModelRegistry(tmp_path / "reg").get("fr", "1").manifest.features[0]
    assert (spec.min, spec.max) == (-1.0, 2.0)


def test_registration_code_stays_out_of_the_scoring_worker() -> None:
    code = (
        "import sys, streamapp.scoring.worker, streamapp.runtime.loader, "
        "streamapp.runtime.processed\n"
        "print([m for m in ('skl2onnx', 'onnxmltools', 'pandas', 'sklearn', 'lightgbm') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("artifact", ["model.onnx", "model.pt"])
def test_bare_onnx_and_torchscript_artifacts_register(tmp_path: Path, artifact: str) -> None:
    from tests.conftest import MODELS

    demo = ModelRegistry(MODELS).get("friedman-reg", "1")
    rows = np.load(demo.path / "reference.npy")
    frame = pd.DataFrame(columns(demo.manifest.features, rows)).astype(np.float64)
    with pytest.raises(RegistrationError, match="pass --task"):
        register(demo.path / artifact, frame, name="fr", registry=tmp_path)
    result = register(demo.path / artifact, frame, name="fr", registry=tmp_path,
                      task="regression", features=demo.manifest.features)
    assert result.max_abs_diff is None  # no source model to compare with
    assert result.version.manifest.artifacts[0].format == (
        "onnx" if artifact.endswith("onnx") else "torchscript"
    )
    expected = load_model(demo, "onnx", "cpu").predict(rows[:64])
    assert np.allclose(load_model(result.version, "auto", "cpu").predict(rows[:64]), expected,
                       atol=1e-4)
