"""The policy agent's core: merged summaries give sklearn's numbers, once, whatever the split."""

from __future__ import annotations

import random

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from sklearn import metrics as skm

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring.control.aggregator import Aggregator
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import RetrainRequest
from streamapp.settings.monitoring import MonitoringSettings, PolicySettings
from streamapp.statistics.summary import Summary
from tests.conftest import MODELS
from tests.unit.monitoring.data import labels_for, predictions, summaries_for

SETTINGS = MonitoringSettings(
    count_window=10_000,
    drift_window=10_000,
    policy=PolicySettings(min_samples=200, cooldown_s=1e9),
)
MODEL = {"model": "agrawal-clf", "version": "1"}


def _summaries(n: int, correct: float, seed: int = 0, partitions: int = 1, **kw: object) -> list[
    Summary
]:
    preds = predictions(n, seed=seed, **kw)  # type: ignore[arg-type]
    return summaries_for(preds, labels_for(preds, correct, seed), partitions)


def _run(
    summaries: list[Summary],
    registry: CollectorRegistry | None = None,
    settings: MonitoringSettings = SETTINGS,
) -> tuple[Aggregator, list[RetrainRequest]]:
    metrics = AggregateMetrics(registry) if registry is not None else None
    agg = Aggregator(settings, SpecCache(ModelRegistry(MODELS)), {}, metrics)
    requests = [r for s in summaries for r in agg.handle(s, 1000.0)]
    agg.export_gauges()
    return agg, requests


def test_window_metrics_and_counters_equal_sklearn_on_the_joined_set() -> None:
    n = 400
    preds = predictions(n)
    labels = labels_for(preds, 0.97)
    reg = CollectorRegistry()
    agg, requests = _run(summaries_for(preds, labels, partitions=3), reg)
    assert requests == []
    primary = [
        (p, lab) for p, lab in zip(preds, labels, strict=True)
        if p.variant.value == "primary" and not p.holdout
    ]
    y = [int(lab.label) for _, lab in primary]
    y_hat = [p.predicted_label for p, _ in primary]
    score = [p.scores[1] for p, _ in primary if p.scores]
    labels_ = {**MODEL, "variant": "primary", "holdout": "false"}

    def gauge(metric: str) -> float | None:
        return reg.get_sample_value(
            "streamapp_model_metric", {**labels_, "window": "count:10000", "metric": metric}
        )

    assert gauge("accuracy") == skm.accuracy_score(y, y_hat)
    assert gauge("precision") == skm.precision_score(y, y_hat)
    assert gauge("f1") == pytest.approx(skm.f1_score(y, y_hat), abs=1e-12)
    assert gauge("log_loss") == pytest.approx(skm.log_loss(y, score), rel=1e-9)
    # score histograms on a 1/1000 grid: exact on the grid, within the bin ties otherwise
    assert gauge("roc_auc") == pytest.approx(skm.roc_auc_score(y, score), abs=2e-3)
    cm = skm.confusion_matrix(y, y_hat, labels=[0, 1])
    for a in (0, 1):
        for p in (0, 1):
            got = reg.get_sample_value(
                "streamapp_confusion_total", {**labels_, "actual": str(a), "predicted": str(p)}
            )
            assert (got or 0.0) == cm[a, p]
    assert reg.get_sample_value("streamapp_outcomes_recorded", MODEL) == n
    assert agg.snapshot("agrawal-clf", "1")["drift_samples"] == n


def test_one_or_many_partitions_any_order_and_redelivery_give_identical_numbers() -> None:
    preds = predictions(300, seed=3)
    labels = labels_for(preds, 0.9, 3)
    one, _ = _run(summaries_for(preds, labels, partitions=1, chunk=300))
    many = summaries_for(preds, labels, partitions=4, chunk=17)
    shuffled = many + random.Random(4).sample(many, 10)  # re-emitted checkpoints
    random.Random(5).shuffle(shuffled)
    # a re-emitted summary arriving after a newer one of its partition is still ignored
    two, _ = _run(sorted(shuffled, key=lambda s: (s.partition, s.seq)))
    a, b = one.snapshot("agrawal-clf", "1"), two.snapshot("agrawal-clf", "1")
    assert a == b
    assert one.state["version:agrawal-clf/1"]["outcomes"] == 300
    assert two.state["version:agrawal-clf/1"]["outcomes"] == 300


def test_accuracy_drop_gives_exactly_one_request_with_evidence() -> None:
    reg = CollectorRegistry()
    _, requests = _run(_summaries(600, correct=0.6, partitions=2), reg)
    assert len(requests) == 1
    req = requests[0]
    assert req.reason.value == "accuracy_drop" and req.metric == "accuracy"
    assert req.observed < req.threshold == pytest.approx(0.9965 - 0.05)
    assert req.model_version == "1" and req.idempotency_key == "agrawal-clf/1/incident-1"
    assert req.evidence["samples"] >= 200
    assert reg.get_sample_value("streamapp_retrain_incident_active", MODEL) == 1.0
    assert (
        reg.get_sample_value("streamapp_retrain_requests_total", {**MODEL, "reason": req.reason})
        == 1
    )


def test_policy_thresholds_are_exported_from_the_settings_and_baseline() -> None:
    """The alert rules compare against these gauges, so they follow ``monitoring.policy.*``."""
    reg = CollectorRegistry()
    policy = PolicySettings(min_samples=200, accuracy_drop=0.2, psi_threshold=0.4,
                            previous_drop=None, prediction_psi_threshold=0.3, cooldown_s=1e9)
    _run(_summaries(300, correct=1.0), reg, SETTINGS.model_copy(update={"policy": policy}))

    def threshold(name: str) -> float | None:
        return reg.get_sample_value("streamapp_policy_threshold", {**MODEL, "threshold": name})

    assert threshold("accuracy_min") == pytest.approx(0.9965 - 0.2)
    assert (threshold("psi"), threshold("prediction_psi")) == (0.4, 0.3)
    assert (threshold("min_samples"), threshold("drifted_features")) == (200, 2)
    assert threshold("accuracy_previous_drop") is None  # off in this policy
    assert threshold("rmse_max") is None  # a classifier has no RMSE baseline


def test_regression_thresholds_follow_the_rmse_baseline() -> None:
    reg = CollectorRegistry()
    _run(summaries_for(predictions(300, model="friedman-reg"), []), reg)
    baseline = ModelRegistry(MODELS).get("friedman-reg", "1").manifest.baseline_metrics["rmse"]
    labels = {"model": "friedman-reg", "version": "1", "threshold": "rmse_max"}
    expected = baseline * (1 + SETTINGS.policy.error_increase)
    assert reg.get_sample_value("streamapp_policy_threshold", labels) == pytest.approx(expected)


def test_feature_drift_request_names_the_shifted_features() -> None:
    reg = CollectorRegistry()
    _, requests = _run(_summaries(600, correct=1.0, shift={"salary": 1.6, "loan": 3.0}), reg)
    assert [r.reason.value for r in requests] == ["feature_drift"]
    assert requests[0].affected_features == ["loan", "salary"]
    psi = reg.get_sample_value(
        "streamapp_feature_drift", {**MODEL, "feature": "salary", "statistic": "psi"}
    )
    assert psi is not None and psi > 0.25


def test_missing_out_of_range_and_unknown_values_are_counted() -> None:
    reg = CollectorRegistry()
    preds = predictions(3)
    bad = [
        preds[0].model_copy(update={"features": {**preds[0].features, "age": None}}),
        preds[1].model_copy(update={"features": {**preds[1].features, "age": 500}}),
        preds[2].model_copy(update={"features": {**preds[2].features, "car": 99}}),
    ]
    _run(summaries_for(bad, []), reg)
    for feature, problem in [("age", "missing"), ("age", "out_of_range"), ("car", "invalid")]:
        labels = {**MODEL, "feature": feature, "problem": problem}
        assert reg.get_sample_value("streamapp_data_quality_total", labels) == 1


def test_regression_model_metrics_and_unknown_versions() -> None:
    preds = predictions(300, model="friedman-reg")
    labs = labels_for(preds, 1.0)
    unknown = preds[0].model_copy(update={"model_version": "404", "event_id": "x"})
    agg, requests = _run(summaries_for([*preds, unknown], labs, partitions=2))
    assert requests == []
    window = agg.snapshot("friedman-reg", "1")["windows"]["primary/false/count:10000"]
    prim = [
        (lab.label, p.predicted_value)
        for p, lab in zip(preds, labs, strict=True)
        if p.variant.value == "primary" and not p.holdout
    ]
    y, y_hat = np.array(prim, dtype=float).T
    assert window["mae"] == pytest.approx(skm.mean_absolute_error(y, y_hat), rel=1e-9)
    assert window["rmse"] == pytest.approx(skm.root_mean_squared_error(y, y_hat), rel=1e-9)
    assert window["r2"] == pytest.approx(skm.r2_score(y, y_hat), rel=1e-9)
    assert agg.snapshot("friedman-reg", "404") == {}
    assert agg.state["version:friedman-reg/404"]["logged"] == 1


def test_previous_window_accuracy_feeds_the_policy() -> None:
    settings = MonitoringSettings(
        count_window=200,
        bucket_s=1.0,
        policy=PolicySettings(min_samples=200, accuracy_drop=1.0, previous_drop=0.1),
    )
    good = predictions(200, seed=1)
    bad = [
        p.model_copy(update={"event_time": p.event_time.replace(year=2027)})
        for p in predictions(200, seed=2, prefix="b")
    ]
    summaries = summaries_for(good, labels_for(good, 0.95, 1), bucket_s=1.0) + summaries_for(
        bad, labels_for(bad, 0.5, 2), bucket_s=1.0
    )
    for i, s in enumerate(summaries):
        s.seq = i + 1
    _, requests = _run(summaries, settings=settings)
    assert [r.metric for r in requests] == ["accuracy_vs_previous_window"]
    assert requests[0].evidence["previous_window_accuracy"] > 0.9


def test_windows_survive_a_restart_from_the_persisted_state() -> None:
    summaries = _summaries(300, correct=0.8, partitions=2)
    state: dict[str, object] = {}
    first = Aggregator(SETTINGS, SpecCache(ModelRegistry(MODELS)), state)
    for s in summaries[:7]:
        first.handle(s, 0.0)
    second = Aggregator(SETTINGS, SpecCache(ModelRegistry(MODELS)), state)  # restarted
    for s in summaries:  # the unacknowledged tail is delivered again
        second.handle(s, 0.0)
    whole, _ = _run(summaries)
    assert second.snapshot("agrawal-clf", "1") == whole.snapshot("agrawal-clf", "1")


@pytest.mark.parametrize("lost", [1, 2, 3])
def test_a_state_restored_some_writes_short_still_counts_every_summary_once(lost: int) -> None:
    """Model a changelog restored ``lost`` writes short, then the data plane's re-emission."""

    class Recording(dict[str, object]):
        def __init__(self) -> None:
            super().__init__()
            self.log: list[tuple[str, object]] = []

        def __setitem__(self, key: str, value: object) -> None:
            self.log.append((key, value))
            super().__setitem__(key, value)

    summaries = _summaries(200, correct=0.8, partitions=2)
    state = Recording()
    first = Aggregator(SETTINGS, SpecCache(ModelRegistry(MODELS)), state)
    for s in summaries:
        first.handle(s, 0.0)
    restored: dict[str, object] = {}
    for key, value in state.log[:-lost]:
        restored[key] = value
    second = Aggregator(SETTINGS, SpecCache(ModelRegistry(MODELS)), restored)
    for s in summaries[-4:]:  # the last checkpoints, re-emitted after the restart
        second.handle(s, 0.0)
    whole, _ = _run(summaries)
    assert second.snapshot("agrawal-clf", "1") == whole.snapshot("agrawal-clf", "1")
    assert restored["version:agrawal-clf/1"]["outcomes"] == 200  # type: ignore[index]
