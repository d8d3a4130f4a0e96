"""Retrain policy: one request per incident, hysteresis, cooldown, stable idempotency keys."""

from __future__ import annotations

from typing import Any

from streamapp.monitoring.control.policy import Signals, recovered, step, triggers
from streamapp.schemas import RetrainReason, RetrainRequest
from streamapp.settings.monitoring import PolicySettings

POLICY = PolicySettings(cooldown_s=100, accuracy_drop=0.05, accuracy_recover=0.02)
BASE = {"accuracy": 0.95}


def _step(
    state: dict[str, Any], acc: float, now: float
) -> tuple[dict[str, Any], RetrainRequest | None]:
    sig = Signals(accuracy=acc, accuracy_window="count:500")
    return step(
        POLICY, state, "m", "1", triggers(POLICY, BASE, sig), recovered(POLICY, BASE, sig), now
    )


def test_one_request_per_incident_then_recovery_then_a_new_incident() -> None:
    state: dict[str, Any] = {}
    requests = []
    # degrade, stay degraded, hover between the thresholds (hysteresis), recover, degrade again
    for now, acc in enumerate([0.95, 0.85, 0.84, 0.86, 0.92, 0.89, 0.92, 0.94, 0.95, 0.80, 0.80]):
        state, req = _step(state, acc, float(now))
        if req is not None:
            requests.append((now, req))
    assert [now for now, _ in requests] == [1, 9]
    first = requests[0][1]
    assert first.reason is RetrainReason.ACCURACY_DROP and first.metric == "accuracy"
    assert first.observed == 0.85 and abs(first.threshold - 0.90) < 1e-12
    assert first.window == "count:500"
    assert [r.idempotency_key for _, r in requests] == ["m/1/incident-1", "m/1/incident-2"]


def test_cooldown_re_requests_a_still_open_incident() -> None:
    state, first = _step({}, 0.5, 0.0)
    state, again = _step(state, 0.5, 99.0)
    assert first is not None and again is None
    state, later = _step(state, 0.5, 100.0)
    assert later is not None and later.idempotency_key == "m/1/incident-2"


def test_feature_drift_needs_k_features_and_names_them() -> None:
    policy = PolicySettings(drifted_features=2, psi_threshold=0.2)
    one = Signals(psi={"a": 0.5, "b": 0.1}, drift_window="count:1000")
    two = Signals(psi={"a": 0.5, "b": 0.3, "c": 0.0}, drift_window="count:1000")
    assert triggers(policy, {}, one) == []
    (fired,) = triggers(policy, {}, two)
    assert fired.reason is RetrainReason.FEATURE_DRIFT
    assert fired.features == ["a", "b"] and fired.observed == 0.5


def test_regression_error_increase_and_prediction_drift() -> None:
    policy = PolicySettings(error_increase=0.5, prediction_psi_threshold=0.2)
    sig = Signals(rmse=1.6, prediction_psi=0.3)
    reasons = [t.metric for t in triggers(policy, {"rmse": 1.0}, sig)]
    assert reasons == ["rmse", "prediction_psi"]


def test_no_signal_is_not_recovery() -> None:
    assert not recovered(POLICY, BASE, Signals())


def test_drop_against_the_previous_window_fires_without_a_baseline() -> None:
    policy = PolicySettings(previous_drop=0.1)
    sig = Signals(accuracy=0.7, previous_accuracy=0.85, accuracy_window="count:2000")
    (fired,) = triggers(policy, {}, sig)
    assert fired.metric == "accuracy_vs_previous_window"
    assert abs(fired.threshold - 0.75) < 1e-12
    assert triggers(policy, {}, Signals(accuracy=0.8, previous_accuracy=0.85)) == []
    off = PolicySettings(previous_drop=None)
    assert triggers(off, {}, sig) == []
