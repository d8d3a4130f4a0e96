"""The trigger gauges show what the policy compared: each trigger's statistic and its bounds.

An operator tells a real shift from a miscalibrated trigger by these series
(docs/operations.md, "Real shift or miscalibrated trigger"), so they must equal the
statistic the policy computed and the calibrated (or fixed) threshold it used.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring.control.aggregator import Aggregator
from streamapp.monitoring.control.operator import apply_command, command_record
from streamapp.monitoring.control.policy import Signals, checks, recovered, triggers
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import RetrainRequest
from streamapp.settings.monitoring import MonitoringSettings, PolicySettings
from tests.conftest import MODELS
from tests.unit.monitoring.data import labels_for, predictions, summaries_for
from tests.unit.monitoring.test_aggregator import SETTINGS
from tests.unit.statistics.test_calibration import _calibrated_registry

MODEL = {"model": "agrawal-clf", "version": "1"}
CALIBRATED = MonitoringSettings(
    count_window=10_000, drift_window=500, policy=PolicySettings(min_samples=200, cooldown_s=1e9)
)


class Gauges:
    """Reads the trigger gauges of agrawal-clf/1 from a registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def statistic(self, trigger: str, feature: str = "") -> float | None:
        return self.registry.get_sample_value(
            "streamapp_policy_trigger_statistic", {**MODEL, "trigger": trigger, "feature": feature}
        )

    def bound(self, trigger: str, feature: str = "", bound: str = "fire") -> float | None:
        labels = {**MODEL, "trigger": trigger, "feature": feature, "bound": bound}
        return self.registry.get_sample_value("streamapp_policy_trigger_threshold", labels)

    def firing(self, trigger: str) -> float | None:
        return self.registry.get_sample_value(
            "streamapp_policy_trigger_firing", {**MODEL, "trigger": trigger}
        )

    def calibrated(self, trigger: str, feature: str) -> float | None:
        labels = {**MODEL, "trigger": trigger, "feature": feature}
        return self.registry.get_sample_value("streamapp_drift_calibrated_threshold", labels)


def _feed(agg: Aggregator, n: int, seed: int, correct: float = 1.0, seq: int = 0,
          shift: dict[str, float] | None = None) -> list[RetrainRequest]:
    preds = predictions(n, seed=seed, prefix=f"s{seed}", shift=shift or {})
    out: list[RetrainRequest] = []
    for s in summaries_for(preds, labels_for(preds, correct, seed)):
        s.seq += seq
        out.extend(agg.handle(s, 1.0))
    return out


def test_calibrated_drift_gauges_equal_the_fired_statistic_and_calibrated_thresholds(
    tmp_path: Path,
) -> None:
    reg = CollectorRegistry()
    g = Gauges(reg)
    agg = Aggregator(CALIBRATED, SpecCache(_calibrated_registry(tmp_path, 500)), {},
                     AggregateMetrics(reg))
    preds = predictions(1200, shift={"salary": 1.5})
    fired: list[RetrainRequest] = []
    for s in summaries_for(preds, labels_for(preds, 1.0, 0)):
        requests = agg.handle(s, 1.0)
        if requests:  # the gauges as the policy saw them when it fired
            (request,) = requests
            fired.append(request)
            assert request.metric == "psi_calibrated" and request.affected_features == ["salary"]
            assert g.statistic("feature_drift", "salary") == request.observed
            assert g.bound("feature_drift", "salary") == request.threshold
            assert g.firing("feature_drift") == 1.0
    assert len(fired) == 1

    spec = agg.specs.get("agrawal-clf", "1")
    assert spec is not None
    drift = agg.snapshot("agrawal-clf", "1")["drift"]  # the dashboard's PSI of the same window
    for column in [c.name for c in spec.columns]:
        limit = g.calibrated("feature_drift", column)
        assert limit is not None and g.bound("feature_drift", column) == limit
        assert g.bound("feature_drift", column, "recover") == pytest.approx(
            CALIBRATED.policy.calibrated_recover * limit
        )
        assert g.statistic("feature_drift", column) == pytest.approx(drift[column]["psi"])
    pred_limit = g.calibrated("prediction_drift", "prediction")
    assert pred_limit is not None and g.bound("prediction_drift", "prediction") == pred_limit
    assert g.statistic("prediction_drift", "prediction") == pytest.approx(
        drift["prediction"]["psi"]
    )
    salary, limit = g.statistic("feature_drift", "salary"), g.bound("feature_drift", "salary")
    assert salary is not None and limit is not None and salary > limit
    assert g.firing("prediction_drift") == float(
        drift["prediction"]["psi"] > pred_limit
    )


def test_stationary_traffic_stays_under_every_calibrated_threshold(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    g = Gauges(reg)
    agg = Aggregator(CALIBRATED, SpecCache(_calibrated_registry(tmp_path, 500)), {},
                     AggregateMetrics(reg))
    assert _feed(agg, 1500, seed=4) == []
    spec = agg.specs.get("agrawal-clf", "1")
    assert spec is not None
    for trigger, column in [*(("feature_drift", c.name) for c in spec.columns),
                            ("prediction_drift", "prediction")]:
        statistic, limit = g.statistic(trigger, column), g.bound(trigger, column)
        assert statistic is not None and limit is not None
        assert 0 <= statistic <= limit, (column, statistic, limit)
    assert g.firing("feature_drift") == g.firing("prediction_drift") == 0.0


def test_accuracy_gauges_follow_the_window_and_the_baseline() -> None:
    reg = CollectorRegistry()
    g = Gauges(reg)
    agg = Aggregator(SETTINGS, SpecCache(ModelRegistry(MODELS)), {}, AggregateMetrics(reg))
    preds = predictions(600, seed=0)
    labels = labels_for(preds, 0.6, 0)
    requests = [r for s in summaries_for(preds, labels) for r in agg.handle(s, 1.0)]
    # the policy's window: every joined outcome of the version (all variants, holdout too)
    right = sum(lab.label == p.predicted_label for p, lab in zip(preds, labels, strict=True))
    assert g.statistic("accuracy") == right / len(preds)
    policy, base = SETTINGS.policy, 0.9965  # the demo manifest's baseline accuracy
    assert g.bound("accuracy") == pytest.approx(base - policy.accuracy_drop)
    assert g.bound("accuracy") == reg.get_sample_value(
        "streamapp_policy_threshold", {**MODEL, "threshold": "accuracy_min"}
    )
    assert g.bound("accuracy", bound="recover") == pytest.approx(base - policy.accuracy_recover)
    assert g.firing("accuracy") == 1.0
    (request,) = requests
    assert request.metric == "accuracy" and request.threshold == g.bound("accuracy")
    # no previous full window yet: nothing to compare the previous-window trigger with
    assert math.isnan(g.bound("accuracy_vs_previous_window") or 0.0)
    assert g.firing("accuracy_vs_previous_window") == 0.0
    # prediction drift is measured on the same evaluation, against the fixed threshold
    drift = agg.snapshot("agrawal-clf", "1")["drift"]
    assert g.statistic("prediction_drift", "prediction") == pytest.approx(
        drift["prediction"]["psi"]
    )
    assert g.bound("prediction_drift", "prediction") == policy.prediction_psi_threshold
    assert g.bound("prediction_drift", "prediction", "recover") == policy.psi_recover


def test_below_min_samples_and_after_rebaseline_the_statistic_is_nan() -> None:
    reg = CollectorRegistry()
    g = Gauges(reg)
    agg = Aggregator(SETTINGS, SpecCache(ModelRegistry(MODELS)), {}, AggregateMetrics(reg))
    _feed(agg, 100, seed=1, correct=0.5)  # below min_samples (200)
    assert math.isnan(g.statistic("accuracy") or 0.0)
    assert g.firing("accuracy") == 0.0
    assert g.bound("accuracy") is not None  # the threshold is known before the window fills
    requests = _feed(agg, 600, seed=2, correct=0.5, shift={"salary": 1.6, "loan": 3.0},
                     seq=100)
    assert {r.reason.value for r in requests} == {"accuracy_drop"}  # one incident
    assert g.firing("accuracy") == g.firing("feature_drift") == 1.0
    loan = g.statistic("feature_drift", "loan")
    assert loan is not None and loan > SETTINGS.policy.psi_threshold

    apply_command(agg, command_record("rebaseline", "agrawal-clf", "1")[1], 2.0)
    # at once, without new traffic: the windows are gone, so nothing is measured
    assert math.isnan(g.statistic("accuracy") or 0.0)
    assert math.isnan(g.statistic("feature_drift", "loan") or 0.0)
    assert g.firing("accuracy") == g.firing("feature_drift") == 0.0
    assert g.bound("accuracy") == pytest.approx(0.9965 - SETTINGS.policy.accuracy_drop)
    reg_incident = reg.get_sample_value("streamapp_retrain_incident_active", MODEL)
    assert reg_incident == 0.0
    # the first summaries after the rebaseline fill a window below min_samples: still NaN
    _feed(agg, 50, seed=3, seq=10_000)
    assert math.isnan(g.statistic("accuracy") or 0.0)
    assert math.isnan(g.statistic("feature_drift", "loan") or 0.0)


def test_checks_cover_every_trigger_the_policy_has() -> None:
    policy = PolicySettings(estimated_accuracy_drop=0.1, detector_trigger=True, previous_drop=0.1)
    sig = Signals(accuracy=0.8, previous_accuracy=0.95, estimated_accuracy=0.93,
                  psi={"a": 0.3, "b": 0.05}, prediction_psi=0.01, detector_alarm=True,
                  accuracy_window="count:500", drift_window="count:500")
    found = {(c.trigger, c.feature): c for c in checks(policy, {"accuracy": 0.95}, sig)}
    assert set(found) == {
        ("accuracy", ""), ("accuracy_vs_previous_window", ""), ("estimated_accuracy", ""),
        ("feature_drift", "a"), ("feature_drift", "b"), ("prediction_drift", "prediction"),
        ("adwin_error_rate", ""),
    }
    assert found["accuracy", ""].statistic == 0.8
    assert found["accuracy", ""].threshold == pytest.approx(0.9)
    assert found["accuracy_vs_previous_window", ""].threshold == pytest.approx(0.85)
    assert found["estimated_accuracy", ""].threshold == pytest.approx(0.85)
    assert found["estimated_accuracy", ""].recover == pytest.approx(0.925)
    assert [c.fires for c in (found["feature_drift", "a"], found["feature_drift", "b"])] == [
        True, False,
    ]
    fired = triggers(policy, {"accuracy": 0.95}, sig)
    # one drifted feature is below drifted_features (2): the column is over, the trigger is not
    assert [t.metric for t in fired] == ["accuracy", "accuracy_vs_previous_window",
                                         "adwin_error_rate"]
    # regression: RMSE instead of accuracy, with its recovery bound
    rmse = checks(policy, {"rmse": 2.0}, Signals(rmse=2.6))
    assert [(c.trigger, c.threshold, c.recover) for c in rmse][:1] == [
        ("rmse", 3.0, 2.0 * (1 + policy.error_recover))
    ]
    assert not recovered(policy, {"rmse": 2.0}, Signals(rmse=2.6))


def test_an_incident_stays_open_while_one_statistic_is_between_its_bounds() -> None:
    """What an operator sees of hysteresis: not firing, not recovered, the incident open."""
    policy = PolicySettings(calibrated_recover=0.5, cooldown_s=1e9)
    limits = {"a": 0.04, "b": 0.04}
    between = Signals(psi={"a": 0.03, "b": 0.001}, psi_limits=limits, drift_window="count:500")
    found = {c.feature: c for c in checks(policy, {}, between)}
    assert not found["a"].fires and not found["a"].recovered
    assert found["a"].recover == pytest.approx(0.02) and found["b"].recovered
    assert triggers(policy, {}, between) == [] and not recovered(policy, {}, between)
