"""Label-free performance estimation: exact on its own fit data, moves with covariate shift,
exported by the aggregator, optional policy trigger."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from streamapp.features import FeatureEncoder
from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring.control.aggregator import Aggregator
from streamapp.monitoring.control.policy import Signals, recovered, triggers
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.manifest import Manifest, PerformanceEstimator, ReferenceProfile
from streamapp.registry.registry import ModelRegistry
from streamapp.settings.monitoring import MonitoringSettings, PolicySettings
from streamapp.statistics import estimation, quality
from streamapp.statistics.profile import build_profile
from streamapp.statistics.spec import ESTIMATOR_BINS, ESTIMATOR_SCORES, PREDICTION, ModelSpec
from streamapp.statistics.summary import SCALE, Stats, fixed
from tests.conftest import MODELS
from tests.unit.monitoring.data import labels_for, predictions, summaries_for


def _manifest(task: str, classes: list[int] | None) -> Manifest:
    return Manifest.model_validate(
        {
            "name": "m",
            "version": "1",
            "task": task,
            "features": [
                {"name": "x", "type": "numeric"},
                {"name": "c", "type": "categorical", "categories": ["a", "b", "z"]},
            ],
            "output": {"classes": classes},
            "artifacts": [{"format": "onnx", "path": "none.onnx", "sha256": "0" * 64}],
            "created_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
        }
    )


def _stats(spec: ModelSpec, rows: list[dict[str, object]], outputs: np.ndarray) -> Stats:
    """Histograms as the data plane folds them (through the monitor's own binning)."""
    from streamapp.monitoring.dataplane.records import LoggedRecord

    t = datetime(2026, 1, 1, tzinfo=UTC)
    preds = [
        LoggedRecord(
            event_id=str(i), model_name="m", model_version="1", event_time=t, scored_time=t,
            features=row,  # type: ignore[arg-type]
            **(
                {"predicted_value": float(out[0])}
                if spec.classes is None
                else {"scores": [float(v) for v in out], "predicted_label": int(out.argmax())}
            ),  # type: ignore[arg-type]
        )
        for i, (row, out) in enumerate(zip(rows, outputs, strict=True))
    ]
    hist, _ = spec.histograms(preds)
    return Stats(logged=len(preds), hist=hist)


def _data(n: int, seed: int, shift: float = 0.0) -> tuple[list[dict[str, object]], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    c = rng.choice(["a", "b", "z"], n, p=[0.5, 0.3, 0.2])
    return [{"x": float(a), "c": str(b)} for a, b in zip(x, c, strict=True)], x


def _setup(task: str, n: int = 4000) -> tuple[ModelSpec, list[dict[str, object]], np.ndarray,
                                              np.ndarray]:
    classes = [0, 1] if task == "binary_classification" else None
    manifest = _manifest(task, classes)
    rows, x = _data(n, 0)
    rng = np.random.default_rng(1)
    if classes is None:
        outputs = (2 * x)[:, None].astype(np.float32)
        y = 2 * x + rng.normal(0, 0.5 + np.abs(x))  # error grows with |x|
    else:
        p1 = 1 / (1 + np.exp(-2 * x))
        outputs = np.stack([1 - p1, p1], axis=1).astype(np.float32)
        y = (rng.random(n) < p1).astype(np.int64)  # calibrated scores
    encoded = FeatureEncoder(manifest.features).encode_many(rows)
    profile = build_profile(manifest, encoded, outputs)
    est = estimation.fit(manifest, profile, encoded, outputs, y)
    spec = ModelSpec(manifest, profile.model_copy(update={"estimator": est}))
    return spec, rows, outputs, y


def test_classification_estimate_is_exact_on_its_fit_data_and_follows_covariate_shift() -> None:
    spec, rows, outputs, y = _setup("binary_classification")
    assert spec.estimator is not None and spec.estimator.method == "cbpe"
    assert len(spec.estimator.calibrated) == ESTIMATOR_BINS
    assert spec.estimator.calibrated == sorted(spec.estimator.calibrated)  # isotonic
    realized = quality.confusion_metrics(
        np.bincount(y * 2 + outputs.argmax(axis=1), minlength=4).reshape(2, 2)
    )
    stats = _stats(spec, rows, outputs)
    assert sum(stats.hist[ESTIMATOR_SCORES]) == len(rows)
    est = estimation.estimate(spec, stats)
    assert est == pytest.approx(realized, abs=0.01)
    # without the score histogram (multiclass, older summaries): binned, exact on the fit data
    stats.hist.pop(ESTIMATOR_SCORES)
    assert estimation.estimate(spec, stats) == pytest.approx(realized, abs=1e-9)
    # covariate shift towards confident scores: accuracy rises, and so does the estimate
    shifted_rows, x = _data(4000, 5, shift=1.5)
    p1 = 1 / (1 + np.exp(-2 * x))
    shifted = np.stack([1 - p1, p1], axis=1)
    truth = (np.random.default_rng(6).random(4000) < p1).astype(np.int64)
    actual = float(np.mean(truth == shifted.argmax(axis=1)))
    guess = estimation.estimate(spec, _stats(spec, shifted_rows, shifted))["accuracy"]
    assert actual > realized["accuracy"] + 0.05
    assert abs(guess - actual) < abs(realized["accuracy"] - actual) / 3


def test_regression_estimate_is_exact_on_its_fit_data_and_sees_larger_errors() -> None:
    spec, rows, outputs, y = _setup("regression")
    assert spec.estimator is not None and spec.estimator.method == "dle-additive"
    err = outputs[:, 0] - y
    est = estimation.estimate(spec, _stats(spec, rows, outputs))
    assert est["mae"] == pytest.approx(float(np.mean(np.abs(err))), rel=1e-9)
    assert est["rmse"] == pytest.approx(float(np.sqrt(np.mean(err**2))), rel=1e-9)
    wide_rows, x = _data(4000, 7, shift=1.0)  # more |x|, larger errors
    wide = estimation.estimate(spec, _stats(spec, wide_rows, (2 * x)[:, None]))
    assert wide["mae"] > est["mae"] * 1.1
    s = Stats(joined=1, sums={"n": 1, "abs": fixed([1.0]), "sq": fixed([1.0]), "y": 0, "y2": SCALE,
                              "sle": 0})
    assert estimation.errors({"mae": 1.5, "rmse": 1.0}, quality.regression(s)) == {
        "mae": 0.5, "rmse": 0.0
    }


def test_too_few_labels_give_no_estimator() -> None:
    manifest = _manifest("regression", None)
    rows, x = _data(10, 0)
    encoded = FeatureEncoder(manifest.features).encode_many(rows)
    profile = build_profile(manifest, encoded, x[:, None].astype(np.float32))
    assert estimation.fit(manifest, profile, encoded, x[:, None], x) is None
    assert estimation.estimate(ModelSpec(manifest, profile), Stats(hist={PREDICTION: [1]})) == {}


def test_estimated_accuracy_trigger_is_off_by_default() -> None:
    sig = Signals(estimated_accuracy=0.8, drift_window="count:2000")
    base = {"accuracy": 0.95}
    assert triggers(PolicySettings(), base, sig) == []
    policy = PolicySettings(estimated_accuracy_drop=0.1)
    (fired,) = triggers(policy, base, sig)
    assert (fired.metric, fired.observed) == ("estimated_accuracy", 0.8)
    assert fired.threshold == pytest.approx(0.85)
    assert not recovered(policy, base, sig)
    assert recovered(policy, base, Signals(estimated_accuracy=0.94))


def _registry_with_estimator(root: Path, accuracy: float) -> ModelRegistry:
    """agrawal-clf/1 with an estimator that expects ``accuracy`` in every score bin."""
    shutil.copytree(MODELS / "agrawal-clf", root / "agrawal-clf")
    path = root / "agrawal-clf" / "1"
    profile = ReferenceProfile.load(path)
    bins = len(profile.prediction.proportions)  # type: ignore[union-attr]
    right, wrong = accuracy / 2, (1 - accuracy) / 2
    est = PerformanceEstimator(
        method="cbpe-binned", samples=100, confusion=[[right, wrong, wrong, right]] * bins
    )
    (path / "profile.json").write_text(
        profile.model_copy(update={"estimator": est}).model_dump_json()
    )
    return ModelRegistry(root)


def test_aggregator_exports_the_estimate_and_its_error_and_can_act_on_it(tmp_path: Path) -> None:
    policy = PolicySettings(min_samples=200, estimated_accuracy_drop=0.1, previous_drop=None)
    settings = MonitoringSettings(count_window=10_000, drift_window=10_000, policy=policy)
    reg = CollectorRegistry()
    agg = Aggregator(
        settings, SpecCache(_registry_with_estimator(tmp_path, 0.7)), {}, AggregateMetrics(reg)
    )
    preds = predictions(600)
    # logged predictions only: no label yet, and the estimate alone opens the incident
    requests = [r for s in summaries_for(preds, []) for r in agg.handle(s, 1.0)]
    assert [(r.reason.value, r.metric) for r in requests] == [("accuracy_drop",
                                                               "estimated_accuracy")]
    agg.export_gauges()  # the control plane's gauge timer
    model = {"model": "agrawal-clf", "version": "1"}
    value = reg.get_sample_value(
        "streamapp_model_metric_estimated", {**model, "window": "count:10000", "metric": "accuracy"}
    )
    assert value == pytest.approx(0.7)
    # with labels (a fresh aggregator: the summaries reuse checkpoint numbers)
    reg = CollectorRegistry()
    agg = Aggregator(settings, SpecCache(ModelRegistry(tmp_path)), {}, AggregateMetrics(reg))
    for s in summaries_for(preds, labels_for(preds, 1.0, 0)):
        agg.handle(s, 2.0)
    agg.export_gauges()
    error = reg.get_sample_value(
        "streamapp_model_metric_estimation_error",
        {**model, "window": "count:10000", "metric": "accuracy"},
    )
    assert error == pytest.approx(0.7 - 1.0)
