"""Pluggable training: the manifest names the trainer; sklearn models retrain as sklearn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from river.datasets import synth
from sklearn.ensemble import GradientBoostingRegressor

from streamapp.registration import register
from streamapp.registry.registry import ModelRegistry
from streamapp.retrain.job import RetrainError, retrain
from streamapp.runtime.loader import load_model
from streamapp.schemas import JoinedOutcome, RetrainReason, RetrainRequest, Variant
from streamapp.settings.retrain import RetrainSettings
from streamapp.training.contract import TrainingJob, TrainResult

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = RetrainSettings(min_samples=100, min_eval_samples=50)


def _request(version: str = "1") -> RetrainRequest:
    return RetrainRequest(
        model_name="fr", model_version=version, reason=RetrainReason.FEATURE_DRIFT,
        metric="psi", observed=0.5, threshold=0.2, window="count:500",
        idempotency_key=f"fr/{version}/incident-1", requested_at=T0,
    )


def _friedman() -> list[tuple[dict[str, float], float]]:
    """Concept A for rows < 2000, concept B (features swapped) after."""
    gen = synth.FriedmanDrift(drift_type="gra", position=(2000, 10**6), seed=42)
    return [({f"x{k}": v for k, v in x.items()}, y) for x, y in islice(gen, 3400)]


def _outcomes(rows: list[tuple[dict[str, float], float]]) -> list[JoinedOutcome]:
    out = []
    for i, (x, y) in enumerate(rows):
        t = T0 + timedelta(seconds=i)
        out.append(JoinedOutcome(
            event_id=f"e-{i}", model_name="fr", model_version="1", variant=Variant.PRIMARY,
            holdout=False, features=x, predicted_value=0.0, label=y, event_time=t,
            scored_time=t, label_time=t, label_lag_s=0.0, joined_at=t,
        ))
    return out


@pytest.fixture(scope="module")
def data() -> list[tuple[dict[str, float], float]]:
    return _friedman()


def _register_sklearn(root: Path, rows: list[tuple[dict[str, float], float]]) -> None:
    frame = pd.DataFrame([x for x, _ in rows])
    y = np.array([y for _, y in rows])
    model = GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=0)
    register(model.fit(frame, y), frame, y, name="fr", registry=root)


def test_a_model_registered_from_sklearn_retrains_as_sklearn(
    tmp_path: Path, data: list[tuple[dict[str, float], float]]
) -> None:
    _register_sklearn(tmp_path, data[:1500])
    registry = ModelRegistry(tmp_path)
    serving = registry.resolve("fr")
    assert serving.manifest.trainer == "streamapp.training.sklearn_trainer:train"
    result = retrain(registry, serving, _request(), _outcomes(data[2000:3400]), SETTINGS)
    assert result.decision.promote, result.decision.reason
    assert (result.version, registry.pointer("fr")) == ("2", "2")
    new = registry.get("fr", "2").manifest
    assert new.training["estimator"] == serving.manifest.training["estimator"]
    assert new.training["estimator_params"] == serving.manifest.training["estimator_params"]
    assert new.training["parent_version"] == "1" and new.trainer == serving.manifest.trainer
    assert [a.format for a in new.artifacts] == ["onnx"]
    assert new.features == serving.manifest.features
    assert new.baseline_metrics["rmse"] == result.evaluation.candidate
    load_model(registry.get("fr", "2"), "onnx", "cpu")


def custom_trainer(job: TrainingJob) -> TrainResult:
    """A user's trainer: re-registers the serving model, reporting fixed metrics."""
    raise RuntimeError(f"custom trainer saw {len(job.data.x_train)} rows, {job.data.t_train[0]}")


def test_the_manifest_names_the_trainer(
    tmp_path: Path, data: list[tuple[dict[str, float], float]]
) -> None:
    _register_sklearn(tmp_path, data[:600])
    manifest = tmp_path / "fr" / "1" / "manifest.json"
    text = manifest.read_text().replace(
        "streamapp.training.sklearn_trainer:train", f"{__name__}:custom_trainer"
    )
    manifest.write_text(text)
    registry = ModelRegistry(tmp_path)
    with pytest.raises(RetrainError, match=r"custom trainer saw \d+ rows, 1767225\d+"):
        retrain(registry, registry.resolve("fr"), _request(), _outcomes(data[:400]), SETTINGS)


def test_estimators_that_cannot_be_rebuilt_retrain_as_default_gradient_boosting(
    tmp_path: Path, data: list[tuple[dict[str, float], float]]
) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from streamapp.training.sklearn_trainer import _estimator

    frame = pd.DataFrame([x for x, _ in data[:300]])
    y = np.array([t for _, t in data[:300]])
    pipe = make_pipeline(StandardScaler(), GradientBoostingRegressor(n_estimators=10)).fit(frame, y)
    manifest = register(pipe, frame, y, name="p", registry=tmp_path).version.manifest
    assert manifest.training["estimator"] == "sklearn.pipeline:Pipeline"
    assert "estimator_params" not in manifest.training
    assert type(_estimator(manifest, 0)).__name__ == "GradientBoostingRegressor"
