"""Retraining policy: signals → at most one retrain request per incident.

Pure functions over a JSON-able state dict (kept in a faust Table, so an
incident survives restarts and failover). An incident opens when any trigger
fires; it closes when every signal is back below its recovery threshold
(hysteresis). While open, a new request (a new incident) is emitted only after
``cooldown_s``. The idempotency key names the model version and incident
number, so a replayed decision produces the same key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streamapp.monitoring.settings import PolicySettings
from streamapp.schemas import RetrainReason, RetrainRequest


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
    detector_alarm: bool = False


def triggers(policy: PolicySettings, baseline: dict[str, float], sig: Signals) -> list[Trigger]:
    """Every condition that fires, most important first."""
    out: list[Trigger] = []
    if sig.accuracy is not None and "accuracy" in baseline:
        limit = baseline["accuracy"] - policy.accuracy_drop
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
    if sig.rmse is not None and "rmse" in baseline:
        limit = baseline["rmse"] * (1 + policy.error_increase)
        if sig.rmse > limit:
            out.append(
                Trigger(RetrainReason.ACCURACY_DROP, "rmse", sig.rmse, limit, sig.accuracy_window)
            )
    drifted = sorted(f for f, v in sig.psi.items() if v > policy.psi_threshold)
    if len(drifted) >= policy.drifted_features:
        worst = max(sig.psi[f] for f in drifted)
        out.append(
            Trigger(
                RetrainReason.FEATURE_DRIFT,
                "psi",
                worst,
                policy.psi_threshold,
                sig.drift_window,
                drifted,
            )
        )
    if sig.prediction_psi is not None and sig.prediction_psi > policy.prediction_psi_threshold:
        out.append(
            Trigger(
                RetrainReason.PREDICTION_DRIFT,
                "prediction_psi",
                sig.prediction_psi,
                policy.prediction_psi_threshold,
                sig.drift_window,
            )
        )
    if policy.detector_trigger and sig.detector_alarm:
        out.append(
            Trigger(RetrainReason.DETECTOR_ALARM, "adwin_error_rate", 1.0, 1.0, sig.accuracy_window)
        )
    return out


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
    if any(v > policy.psi_recover for v in sig.psi.values()):
        return False
    if sig.prediction_psi is not None and sig.prediction_psi > policy.psi_recover:
        return False
    return not (sig.accuracy is None and sig.rmse is None and not sig.psi)


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
