"""Retraining policy: signals → at most one retrain request per incident.

Pure functions over a JSON-able state dict (kept in a faust Table, so an
incident survives restarts and failover). An incident opens when any trigger
fires; it closes when every signal is back below its recovery threshold
(hysteresis). While open, a new request (a new incident) is emitted only after
``cooldown_s``. The idempotency key names the model version and incident
number, so a replayed decision produces the same key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streamapp.schemas import RetrainReason, RetrainRequest
from streamapp.settings.monitoring import PolicySettings


@dataclass(frozen=True)
class Trigger:
    """One policy condition that fired."""

    reason: RetrainReason
    metric: str
    observed: float
    threshold: float
    window: str
    features: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Signals:
    """What the aggregator measured for one model version at one evaluation."""

    accuracy: float | None = None
    """Classification window accuracy (None below min samples)."""
    rmse: float | None = None
    """Regression window RMSE (None below min samples)."""
    accuracy_window: str = ""
    previous_accuracy: float | None = None
    """Accuracy of the previous full, non-overlapping policy window (None until one exists)."""
    psi: dict[str, float] = field(default_factory=dict)
    """Per-feature PSI (empty below min samples)."""
    prediction_psi: float | None = None
    drift_window: str = ""
    psi_limits: dict[str, float] = field(default_factory=dict)
    """Calibrated per-feature PSI thresholds (empty: the policy's fixed ones)."""
    prediction_psi_limit: float | None = None
    """Calibrated prediction PSI threshold (None: the policy's fixed one)."""
    detector_alarm: bool = False
    estimated_accuracy: float | None = None
    """Label-free estimated accuracy of the drift window (None: no estimator or too few)."""


def thresholds(policy: PolicySettings, baseline: dict[str, float]) -> dict[str, float]:
    """The numbers :func:`triggers` compares against, by name (exported for the alert rules).

    ``accuracy_min`` and ``rmse_max`` exist only when the manifest has that baseline,
    ``accuracy_previous_drop`` only when ``previous_drop`` is set.

    >>> sorted(thresholds(PolicySettings(), {"accuracy": 0.9}).items())[:2]
    [('accuracy_min', 0.85), ('accuracy_previous_drop', 0.1)]
    """
    out = {
        "min_samples": float(policy.min_samples),
        "psi": policy.psi_threshold,
        "drifted_features": float(policy.drifted_features),
        "prediction_psi": policy.prediction_psi_threshold,
    }
    if "accuracy" in baseline:
        out["accuracy_min"] = baseline["accuracy"] - policy.accuracy_drop
    if policy.previous_drop is not None:
        out["accuracy_previous_drop"] = policy.previous_drop
    if "rmse" in baseline:
        out["rmse_max"] = baseline["rmse"] * (1 + policy.error_increase)
    return out


def triggers(policy: PolicySettings, baseline: dict[str, float], sig: Signals) -> list[Trigger]:
    """Every condition that fires, most important first."""
    out: list[Trigger] = []
    limits = thresholds(policy, baseline)
    if sig.accuracy is not None and "accuracy_min" in limits:
        limit = limits["accuracy_min"]
        if sig.accuracy < limit:
            out.append(
                Trigger(
                    RetrainReason.ACCURACY_DROP,
                    "accuracy",
                    sig.accuracy,
                    limit,
                    sig.accuracy_window,
                )
            )
    if (
        policy.previous_drop is not None
        and sig.accuracy is not None
        and sig.previous_accuracy is not None
        and sig.accuracy < sig.previous_accuracy - policy.previous_drop
    ):
        limit = sig.previous_accuracy - policy.previous_drop
        out.append(
            Trigger(
                RetrainReason.ACCURACY_DROP,
                "accuracy_vs_previous_window",
                sig.accuracy,
                limit,
                sig.accuracy_window,
            )
        )
    if sig.rmse is not None and "rmse_max" in limits:
        limit = limits["rmse_max"]
        if sig.rmse > limit:
            out.append(
                Trigger(RetrainReason.ACCURACY_DROP, "rmse", sig.rmse, limit, sig.accuracy_window)
            )
    if (
        policy.estimated_accuracy_drop is not None
        and sig.estimated_accuracy is not None
        and "accuracy" in baseline
        and sig.estimated_accuracy < baseline["accuracy"] - policy.estimated_accuracy_drop
    ):
        out.append(
            Trigger(
                RetrainReason.ACCURACY_DROP,
                "estimated_accuracy",
                sig.estimated_accuracy,
                baseline["accuracy"] - policy.estimated_accuracy_drop,
                sig.drift_window,
            )
        )
    out.extend(_drift_triggers(policy, sig))
    if policy.detector_trigger and sig.detector_alarm:
        out.append(
            Trigger(RetrainReason.DETECTOR_ALARM, "adwin_error_rate", 1.0, 1.0, sig.accuracy_window)
        )
    return out


def _drift_triggers(policy: PolicySettings, sig: Signals) -> list[Trigger]:
    """Feature and prediction drift: calibrated thresholds when the signals carry them."""
    out: list[Trigger] = []
    if sig.psi_limits:
        limits = sig.psi_limits
        drifted = sorted(f for f, v in sig.psi.items() if f in limits and v > limits[f])
        if drifted:
            worst = max(drifted, key=lambda f: sig.psi[f] / limits[f])
            out.append(
                Trigger(
                    RetrainReason.FEATURE_DRIFT,
                    "psi_calibrated",
                    sig.psi[worst],
                    limits[worst],
                    sig.drift_window,
                    drifted,
                )
            )
    else:
        drifted = sorted(f for f, v in sig.psi.items() if v > policy.psi_threshold)
        if len(drifted) >= policy.drifted_features:
            worst_psi = max(sig.psi[f] for f in drifted)
            out.append(
                Trigger(
                    RetrainReason.FEATURE_DRIFT,
                    "psi",
                    worst_psi,
                    policy.psi_threshold,
                    sig.drift_window,
                    drifted,
                )
            )
    calibrated = sig.prediction_psi_limit is not None
    limit = sig.prediction_psi_limit if calibrated else policy.prediction_psi_threshold
    assert limit is not None
    if sig.prediction_psi is not None and sig.prediction_psi > limit:
        out.append(
            Trigger(
                RetrainReason.PREDICTION_DRIFT,
                "prediction_psi_calibrated" if calibrated else "prediction_psi",
                sig.prediction_psi,
                limit,
                sig.drift_window,
            )
        )
    return out


def _drift_recovered(policy: PolicySettings, sig: Signals) -> bool:
    share = policy.calibrated_recover
    if sig.psi_limits:
        if any(v > share * sig.psi_limits.get(f, math.inf) for f, v in sig.psi.items()):
            return False
    elif any(v > policy.psi_recover for v in sig.psi.values()):
        return False
    limit = (
        policy.psi_recover
        if sig.prediction_psi_limit is None
        else share * sig.prediction_psi_limit
    )
    return sig.prediction_psi is None or sig.prediction_psi <= limit


def recovered(policy: PolicySettings, baseline: dict[str, float], sig: Signals) -> bool:
    """True when every measured signal is back inside its recovery threshold."""
    if (
        sig.accuracy is not None
        and "accuracy" in baseline
        and sig.accuracy < baseline["accuracy"] - policy.accuracy_recover
    ):
        return False
    if (
        sig.rmse is not None
        and "rmse" in baseline
        and sig.rmse > baseline["rmse"] * (1 + policy.error_recover)
    ):
        return False
    if not _drift_recovered(policy, sig):
        return False
    if (
        policy.estimated_accuracy_drop is not None
        and sig.estimated_accuracy is not None
        and "accuracy" in baseline
        and sig.estimated_accuracy < baseline["accuracy"] - policy.accuracy_recover
    ):
        return False
    return not (
        sig.accuracy is None
        and sig.rmse is None
        and not sig.psi
        and sig.estimated_accuracy is None
    )


def decide(
    policy: PolicySettings,
    state: dict[str, Any],
    model: str,
    version: str,
    fired: list[Trigger],
    is_recovered: bool,
    now: float,
    evidence: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], RetrainRequest | None]:
    """Next policy state and the request to emit (None most of the time)."""
    new: dict[str, Any] = (
        dict(state) if state else {"open": False, "incident": 0, "last_request": None}
    )
    if new["open"]:
        if is_recovered:
            new["open"] = False
            return new, None
        if not fired or now - float(new["last_request"]) < policy.cooldown_s:
            return new, None
    elif not fired or now < float(new.get("suppressed_until") or 0.0):
        return new, None  # nothing fires, or an operator acknowledged it for a cooldown
    new["open"] = True
    new["incident"] = int(new["incident"]) + 1
    new["last_request"] = now
    top = fired[0]
    request = RetrainRequest(
        model_name=model,
        model_version=version,
        reason=top.reason,
        metric=top.metric,
        observed=top.observed,
        threshold=top.threshold,
        window=top.window,
        affected_features=top.features,
        evidence={
            "triggers": [
                {
                    "reason": t.reason.value,
                    "metric": t.metric,
                    "observed": t.observed,
                    "threshold": t.threshold,
                    "window": t.window,
                    "features": t.features,
                }
                for t in fired
            ],
            **(evidence or {}),
        },
        idempotency_key=f"{model}/{version}/incident-{new['incident']}",
        requested_at=datetime.fromtimestamp(now, UTC),
    )
    return new, request
