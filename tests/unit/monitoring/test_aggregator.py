"""The policy agent's core: global metrics equal sklearn, dedupe, drift, one request."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from scipy.stats import ks_2samp
from sklearn import metrics as skm

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring.aggregator import Aggregator
from streamapp.monitoring.join import joined
from streamapp.monitoring.settings import MonitoringSettings, PolicySettings
from streamapp.monitoring.summary import Summary
from streamapp.registry.manifest import ReferenceProfile
from streamapp.registry.registry import ModelRegistry
from tests.conftest import MODELS
from tests.unit.monitoring.data import labels_for, predictions

SETTINGS = MonitoringSettings(
    count_window=10_000,
    drift_window=10_000,
    eval_every=1,
    policy=PolicySettings(min_samples=200, cooldown_s=1e9),
)


def _summaries(n: int, correct: float, seed: int = 0, **kw: Any) -> list[Summary]:
    preds = predictions(n, seed=seed, **kw)
    out = [Summary(kind="prediction", prediction=p) for p in preds]
    for p, lab in zip(preds, labels_for(preds, correct, seed), strict=True):
        out.append(Summary(kind="outcome", outcome=joined(p, lab, 0.0)))
    return out


def _run(
    summaries: list[Summary], registry: CollectorRegistry | None = None
) -> tuple[Aggregator, list]:
    metrics = AggregateMetrics(registry) if registry is not None else None
    agg = Aggregator(SETTINGS, ModelRegistry(MODELS), {}, metrics)
    requests = [r for s in summaries for r in agg.handle(s, 1000.0)]
    return agg, requests


def test_window_metrics_and_counters_equal_sklearn_on_the_joined_set() -> None:
    summaries = _summaries(400, correct=0.97)
    reg = CollectorRegistry()
    agg, requests = _run(summaries, reg)
    assert requests == []
    outcomes = [s.outcome for s in summaries if s.outcome is not None]
    primary = [o for o in outcomes if o.variant.value == "primary" and not o.holdout]
    y = [int(o.label) for o in primary]
    y_hat = [o.predicted_label for o in primary]
    score = [o.scores[1] for o in primary if o.scores]
    labels = {"model": "agrawal-clf", "version": "1", "variant": "primary", "holdout": "false"}

    def gauge(metric: str) -> float | None:
        return reg.get_sample_value(
            "streamapp_model_metric", {**labels, "window": "count:10000", "metric": metric}
        )

    assert gauge("accuracy") == skm.accuracy_score(y, y_hat)
    assert gauge("f1") == pytest.approx(skm.f1_score(y, y_hat), abs=1e-12)
    assert gauge("roc_auc") == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert gauge("log_loss") == pytest.approx(skm.log_loss(y, score), rel=1e-12)
    cm = skm.confusion_matrix(y, y_hat, labels=[0, 1])
    for a in (0, 1):
        for p in (0, 1):
            got = reg.get_sample_value(
                "streamapp_confusion_total", {**labels, "actual": str(a), "predicted": str(p)}
            )
            assert (got or 0.0) == cm[a, p]
    assert (
        reg.get_sample_value(
            "streamapp_outcomes_recorded", {"model": "agrawal-clf", "version": "1"}
        )
        == 400
    )
    snap = agg.snapshot("agrawal-clf", "1")
    profile = ReferenceProfile.load(MODELS / "agrawal-clf" / "1")
    ages = [float(s.prediction.features["age"]) for s in summaries if s.prediction is not None]  # type: ignore[arg-type]
    assert snap["drift"]["age"]["ks"] == pytest.approx(
        ks_2samp(ages, profile.numeric["age"].quantiles).statistic
    )
    assert snap["drift_samples"] == 400


def test_order_and_duplicates_do_not_change_the_global_numbers() -> None:
    summaries = _summaries(300, correct=0.9)
    shuffled = summaries + random.Random(4).sample(summaries, 100)
    random.Random(5).shuffle(shuffled)
    a, _ = _run(summaries)
    b, _ = _run(shuffled)
    sa, sb = a.snapshot("agrawal-clf", "1"), b.snapshot("agrawal-clf", "1")
    assert sa["windows"] == sb["windows"]
    for feature, stats in sa["drift"].items():
        assert stats == pytest.approx(sb["drift"][feature])
    assert (
        a.state["version:agrawal-clf/1"]["outcomes"]
        == b.state["version:agrawal-clf/1"]["outcomes"]
        == 300
    )


def test_accuracy_drop_gives_exactly_one_request_with_evidence() -> None:
    reg = CollectorRegistry()
    _, requests = _run(_summaries(600, correct=0.6), reg)
    assert len(requests) == 1
    req = requests[0]
    assert req.reason.value == "accuracy_drop" and req.metric == "accuracy"
    assert req.observed < req.threshold == pytest.approx(0.9965 - 0.05)
    assert req.model_version == "1" and req.idempotency_key == "agrawal-clf/1/incident-1"
    assert req.evidence["samples"] >= 200
    labels = {"model": "agrawal-clf", "version": "1"}
    assert reg.get_sample_value("streamapp_retrain_incident_active", labels) == 1.0
    assert (
        reg.get_sample_value(
            "streamapp_retrain_requests_total", {**labels, "reason": "accuracy_drop"}
        )
        == 1
    )


def test_feature_drift_request_names_the_shifted_features_and_counts_data_quality() -> None:
    reg = CollectorRegistry()
    summaries = _summaries(600, correct=1.0, shift={"salary": 1.6, "loan": 3.0})
    _, requests = _run(summaries, reg)
    assert [r.reason.value for r in requests] == ["feature_drift"]
    assert requests[0].affected_features == ["loan", "salary"]
    psi = reg.get_sample_value(
        "streamapp_feature_drift",
        {"model": "agrawal-clf", "version": "1", "feature": "salary", "statistic": "psi"},
    )
    assert psi is not None and psi > 0.25


def test_missing_and_out_of_range_values_are_counted() -> None:
    reg = CollectorRegistry()
    preds = predictions(3)
    bad = [
        preds[0].model_copy(update={"features": {**preds[0].features, "age": None}}),
        preds[1].model_copy(update={"features": {**preds[1].features, "age": 500}}),
        preds[2].model_copy(update={"features": {**preds[2].features, "car": 99}}),
    ]
    _run([Summary(kind="prediction", prediction=p) for p in bad], reg)
    base = {"model": "agrawal-clf", "version": "1"}
    for feature, problem in [("age", "missing"), ("age", "out_of_range"), ("car", "invalid")]:
        assert (
            reg.get_sample_value(
                "streamapp_data_quality_total", {**base, "feature": feature, "problem": problem}
            )
            == 1
        )


def test_regression_model_metrics_and_unknown_versions() -> None:
    preds = predictions(300, model="friedman-reg")
    labs = labels_for(preds, 1.0)
    summaries = [
        Summary(kind="outcome", outcome=joined(p, lab, 0.0))
        for p, lab in zip(preds, labs, strict=True)
    ]
    unknown = preds[0].model_copy(update={"model_version": "404", "event_id": "x"})
    summaries.append(Summary(kind="prediction", prediction=unknown))
    agg, requests = _run(summaries)
    assert requests == []
    window = agg.snapshot("friedman-reg", "1")["windows"]["primary/false/count:10000"]
    prim = [
        (lab.label, p.predicted_value)
        for p, lab in zip(preds, labs, strict=True)
        if p.variant.value == "primary" and not p.holdout
    ]
    y, y_hat = np.array(prim, dtype=float).T
    assert window["rmse"] == pytest.approx(skm.root_mean_squared_error(y, y_hat), rel=1e-12)
    assert window["r2"] == pytest.approx(skm.r2_score(y, y_hat), rel=1e-9)
    assert agg.snapshot("friedman-reg", "404") == {}


def test_previous_window_accuracy_feeds_the_policy() -> None:
    settings = MonitoringSettings(
        count_window=200,
        eval_every=1,
        policy=PolicySettings(min_samples=200, accuracy_drop=1.0, previous_drop=0.1),
    )
    agg = Aggregator(settings, ModelRegistry(MODELS), {})
    good = [s for s in _summaries(200, correct=0.95, seed=1) if s.kind == "outcome"]
    bad = [s for s in _summaries(200, correct=0.5, seed=2, prefix="b") if s.kind == "outcome"]
    requests = [r for s in good + bad for r in agg.handle(s, 0.0)]
    assert [r.metric for r in requests] == ["accuracy_vs_previous_window"]
    assert requests[0].evidence["previous_window_accuracy"] > 0.9


def test_a_version_without_profile_is_reported_and_still_gets_accuracy(
    model_registry_dir: Any, caplog: pytest.LogCaptureFixture
) -> None:
    (model_registry_dir / "agrawal-clf" / "1" / "profile.json").unlink()
    reg = CollectorRegistry()
    agg = Aggregator(SETTINGS, ModelRegistry(model_registry_dir), {}, AggregateMetrics(reg))
    with caplog.at_level("ERROR"):
        for s in _summaries(300, correct=0.9):
            agg.handle(s, 1000.0)
    ids = {"model": "agrawal-clf", "version": "1"}
    assert reg.get_sample_value("streamapp_reference_profile_loaded", ids) == 0.0
    assert "unusable profile" in caplog.text and "agrawal-clf/1" in caplog.text
    snap = agg.snapshot("agrawal-clf", "1")
    assert snap["profile_loaded"] is False and snap["drift"] == {}
    assert snap["windows"]["primary/false/count:10000"]["accuracy"] > 0.5


def test_a_version_with_a_profile_reports_it_loaded() -> None:
    reg = CollectorRegistry()
    _run(_summaries(5, correct=1.0), reg)
    ids = {"model": "agrawal-clf", "version": "1"}
    assert reg.get_sample_value("streamapp_reference_profile_loaded", ids) == 1.0
