"""Calibrated drift triggers: bootstrap thresholds, their false-alarm rate, policy and gauges."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring.control.aggregator import Aggregator
from streamapp.monitoring.control.policy import Signals, recovered, triggers
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.manifest import NumericProfile, ReferenceProfile
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import RetrainReason
from streamapp.settings.monitoring import MonitoringSettings, PolicySettings
from streamapp.statistics import binning as stats
from streamapp.statistics.calibration import (
    CONFIDENCE,
    calibrate,
    describe,
    psi_rows,
    quantile,
    replicates,
    sliding_counts,
)
from tests.conftest import MODELS
from tests.unit.monitoring.data import labels_for, predictions, summaries_for


def _uniform(k: int, count: int) -> NumericProfile:
    return NumericProfile(
        edges=[float(i) for i in range(1, k)],
        proportions=[1 / k] * k,
        quantiles=[0.0] * 101,
        mean=0.0,
        std=1.0,
        min=0.0,
        max=float(k),
        count=count,
    )


def _profile(k: int = 10, count: int = 20_000) -> ReferenceProfile:
    return ReferenceProfile(
        model_name="m",
        model_version="1",
        numeric={"a": _uniform(k, count), "b": _uniform(k, count)},
        prediction=_uniform(k, count),
    )


def test_psi_rows_and_sliding_counts_equal_the_direct_computation() -> None:
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 5, size=(40, 7))
    counts[3] = 0
    expected = rng.dirichlet(np.ones(7))
    direct = [stats.psi(expected, c) for c in counts]
    assert psi_rows(expected, counts) == pytest.approx(direct, rel=1e-12, abs=1e-15)
    bins = rng.integers(0, 4, size=(2, 30))
    windows = sliding_counts(bins, 4, 8)
    assert windows.shape == (2, 23, 4)
    for r in range(2):
        for t in range(23):
            assert windows[r, t].tolist() == np.bincount(bins[r, t : t + 8], minlength=4).tolist()


def test_thresholds_follow_target_window_and_sidak_and_round_trip_in_the_profile() -> None:
    cal = calibrate(_profile(), [500, 2000], target_run_length=1e6, bootstrap=60, seed=3)
    small, large = cal.windows
    assert (small.window, large.window) == (500, 2000)
    assert small.feature_drift is not None and small.prediction_drift is not None
    assert small.feature_drift.block_alpha == pytest.approx(500 / 1e6)
    assert small.feature_drift.column_alpha == pytest.approx(1 - (1 - 500 / 1e6) ** 0.5)
    assert small.prediction_drift.column_alpha == pytest.approx(500 / 1e6)
    # a larger window is less noisy; a rarer false alarm needs a higher threshold
    assert max(large.feature_drift.thresholds.values()) < min(  # type: ignore[union-attr]
        small.feature_drift.thresholds.values()
    )
    rarer = calibrate(_profile(), [500], target_run_length=1e8, bootstrap=60, seed=3)
    assert rarer.windows[0].feature_drift.thresholds["a"] > small.feature_drift.thresholds["a"]  # type: ignore[union-attr]
    assert cal.for_window(1999) == small and cal.for_window(5000) == large
    assert cal.for_window(499) is None
    profile = _profile().model_copy(update={"calibration": cal})
    again = ReferenceProfile.model_validate_json(profile.model_dump_json())
    assert again.calibration == cal
    assert "W=500: features psi>" in describe(cal) and "1 per 1e+06 events, B=60" in describe(cal)
    assert describe(None) == "-"


def test_an_empirical_threshold_holds_its_rate_with_the_stated_confidence() -> None:
    """Thresholds from 1,000 exponential maxima: P(true exceedance <= alpha) ~ CONFIDENCE."""
    rng = np.random.default_rng(5)
    alpha, b = 0.02, 1000
    exceed = np.array([np.exp(-quantile(rng.exponential(size=b), alpha)) for _ in range(400)])
    held = float(np.mean(exceed <= alpha))
    assert CONFIDENCE - 0.06 <= held <= 0.98  # 400 draws: about +-0.015 sd
    assert float(np.mean(exceed)) < alpha  # conservative on average, but not absurdly
    assert float(np.mean(exceed)) > alpha / 2


def test_a_one_column_trigger_gets_enough_replicates_to_read_its_tail() -> None:
    cal = calibrate(_profile(count=5_000), [500], target_run_length=1e5, bootstrap=40)
    (w,) = cal.windows
    assert w.prediction_drift is not None and w.feature_drift is not None
    assert w.prediction_drift.replicates == replicates(500 / 1e5, 1, 40) == 2000
    assert w.feature_drift.replicates == 40  # two columns at 1e5 would need ~4,000 each
    assert "prediction psi>" in describe(cal) and "(B=2000)" in describe(cal)


def test_stationary_false_alarms_stay_below_the_target() -> None:
    """A stream from the true distribution, scored against a profile of a finite sample."""
    rng = np.random.default_rng(7)
    k, n_ref, window, target, events = 10, 5_000, 500, 20_000.0, 600_000
    truth = np.full(k, 1 / k)
    ref = rng.multinomial(n_ref, truth) / n_ref
    profile = ReferenceProfile(
        model_name="m",
        model_version="1",
        numeric={"a": _uniform(k, n_ref).model_copy(update={"proportions": ref.tolist()})},
        prediction=_uniform(k, n_ref),
    )
    cal = calibrate(profile, [window], target_run_length=target, bootstrap=100, seed=0)
    limit = cal.windows[0].feature_drift.thresholds["a"]  # type: ignore[union-attr]
    stream = rng.choice(k, size=(1, events), p=truth)
    psi = psi_rows(ref, sliding_counts(stream, k, window)[0, ::10])
    above = psi > limit
    alarms = int(above[0]) + int(np.sum(above[1:] & ~above[:-1]))  # upcrossings
    assert alarms <= events / target  # 30 expected at the target


def test_calibrated_policy_fires_on_one_column_over_its_own_threshold() -> None:
    policy = PolicySettings(calibrated_recover=0.5)
    limits = {"a": 0.02, "b": 0.05}
    sig = Signals(psi={"a": 0.03, "b": 0.04}, psi_limits=limits, drift_window="count:2000")
    (fired,) = triggers(policy, {}, sig)
    assert fired.reason is RetrainReason.FEATURE_DRIFT and fired.metric == "psi_calibrated"
    assert fired.features == ["a"] and (fired.observed, fired.threshold) == (0.03, 0.02)
    assert not recovered(policy, {}, sig)
    calm = Signals(psi={"a": 0.01, "b": 0.02}, psi_limits=limits)
    assert triggers(policy, {}, calm) == [] and recovered(policy, {}, calm)
    pred = Signals(prediction_psi=0.05, prediction_psi_limit=0.04)
    (fired,) = triggers(policy, {}, pred)
    assert fired.metric == "prediction_psi_calibrated" and fired.threshold == 0.04
    assert not recovered(policy, {}, Signals(psi={"a": 0.0}, prediction_psi=0.03,
                                             prediction_psi_limit=0.04))


def _calibrated_registry(root: Path, window: int) -> ModelRegistry:
    shutil.copytree(MODELS / "agrawal-clf", root / "agrawal-clf")
    path = root / "agrawal-clf" / "1"
    profile = ReferenceProfile.load(path)
    cal = calibrate(profile, [window], bootstrap=40)
    (path / "profile.json").write_text(
        profile.model_copy(update={"calibration": cal}).model_dump_json()
    )
    return ModelRegistry(root)


def test_aggregator_uses_and_exports_the_calibration(tmp_path: Path) -> None:
    settings = MonitoringSettings(
        count_window=10_000, drift_window=500, policy=PolicySettings(min_samples=200)
    )
    reg = CollectorRegistry()
    agg = Aggregator(
        settings, SpecCache(_calibrated_registry(tmp_path, 500)), {}, AggregateMetrics(reg)
    )
    # one feature shifted: the fixed policy needs two, the calibrated one fires on it
    preds = predictions(1200, shift={"salary": 1.5})
    requests = [
        r for s in summaries_for(preds, labels_for(preds, 1.0, 0)) for r in agg.handle(s, 1.0)
    ]
    assert [(r.reason.value, r.metric) for r in requests] == [("feature_drift", "psi_calibrated")]
    assert requests[0].affected_features == ["salary"]
    model = {"model": "agrawal-clf", "version": "1"}
    assert reg.get_sample_value(
        "streamapp_drift_target_run_length_events", {**model, "trigger": "feature_drift"}
    ) == 1e6
    limit = reg.get_sample_value(
        "streamapp_drift_calibrated_threshold",
        {**model, "trigger": "feature_drift", "feature": "salary"},
    )
    assert limit is not None and requests[0].threshold == pytest.approx(limit)


def test_a_calibrated_version_stays_quiet_on_reference_data(tmp_path: Path) -> None:
    settings = MonitoringSettings(
        count_window=10_000, drift_window=500, policy=PolicySettings(min_samples=200)
    )
    agg = Aggregator(settings, SpecCache(_calibrated_registry(tmp_path, 500)), {})
    preds = predictions(1500, seed=4)
    summaries = summaries_for(preds, labels_for(preds, 1.0, 4))
    assert [r for s in summaries for r in agg.handle(s, 1.0)] == []
