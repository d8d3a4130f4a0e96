"""Retraining policy: signals → at most one retrain request per incident.

Pure functions over a JSON-able state dict (kept in a faust Table, so an
incident survives restarts and failover). An incident opens when any trigger
fires; it closes when every signal is back below its recovery threshold
(hysteresis). While open, a new request (a new incident) is emitted only after
``cooldown_s``. The idempotency key names the model version and incident
number, so a replayed decision produces the same key.
"""

from __future__ import annotations

import itertools
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


@dataclass(frozen=True)
class Check:
    """One trigger's comparison at one evaluation, fired or not (the trigger gauges show it).

    NaN ``statistic``: not evaluated (the window holds fewer than ``min_samples``); NaN
    ``threshold``: nothing to compare with yet (no previous full window); NaN ``recover``: the
    trigger does not hold an incident open.
    """

    trigger: str
    """accuracy, accuracy_vs_previous_window, rmse, estimated_accuracy, feature_drift,
    prediction_drift or adwin_error_rate."""
    feature: str
    """The column a drift trigger compares (a feature, or ``prediction``); else empty."""
    statistic: float
    threshold: float
    """It fires beyond this (above it for PSI and RMSE, below it for accuracy)."""
    recover: float
    """An open incident recovers only once the statistic is back inside this."""
    above: bool
    """True: fires when the statistic is above the threshold; False: below."""
    fires: bool
    """This comparison fires (a fixed-threshold feature drift also needs ``drifted_features``)."""
    reason: RetrainReason
    metric: str
    """The retrain request's ``metric`` when it fires (``psi_calibrated``, ``psi``, ...)."""
    window: str

    @property
    def recovered(self) -> bool:
        """Inside its recovery bound, or not measured, or without one."""
        if math.isnan(self.statistic) or math.isnan(self.recover):
            return True
        return self.statistic <= self.recover if self.above else self.statistic >= self.recover


def _check(
    trigger: str, reason: RetrainReason, metric: str, window: str, statistic: float | None,
    threshold: float | None, recover: float | None, *, above: bool, feature: str = "",
) -> Check:
    stat = math.nan if statistic is None else statistic
    limit = math.nan if threshold is None else threshold
    fires = stat > limit if above else stat < limit  # False when either is NaN
    back = math.nan if recover is None else recover
    return Check(trigger, feature, stat, limit, back, above, fires, reason, metric, window)


def checks(policy: PolicySettings, baseline: dict[str, float], sig: Signals) -> list[Check]:
    """Every trigger the policy has, with its statistic and bounds, most important first.

    :func:`triggers` and :func:`recovered` decide from these, so the gauges show exactly what
    the policy compared. A trigger the policy or the baseline turns off is left out.
    """
    out: list[Check] = []
    limits = thresholds(policy, baseline)
    acc, drop = sig.accuracy_window, RetrainReason.ACCURACY_DROP
    if "accuracy_min" in limits:
        out.append(_check("accuracy", drop, "accuracy", acc, sig.accuracy, limits["accuracy_min"],
                          baseline["accuracy"] - policy.accuracy_recover, above=False))
    if policy.previous_drop is not None and ("accuracy" in baseline or sig.accuracy is not None):
        previous = (
            None if sig.previous_accuracy is None else sig.previous_accuracy - policy.previous_drop
        )
        out.append(_check("accuracy_vs_previous_window", drop, "accuracy_vs_previous_window",
                          acc, sig.accuracy, previous, None, above=False))
    if "rmse_max" in limits:
        out.append(_check("rmse", drop, "rmse", acc, sig.rmse, limits["rmse_max"],
                          baseline["rmse"] * (1 + policy.error_recover), above=True))
    if policy.estimated_accuracy_drop is not None and "accuracy" in baseline:
        out.append(_check("estimated_accuracy", drop, "estimated_accuracy", sig.drift_window,
                          sig.estimated_accuracy,
                          baseline["accuracy"] - policy.estimated_accuracy_drop,
                          baseline["accuracy"] - policy.accuracy_recover, above=False))
    out.extend(_drift_checks(policy, sig))
    if policy.detector_trigger:
        out.append(Check("adwin_error_rate", "", float(sig.detector_alarm), 1.0, math.nan, True,
                         sig.detector_alarm, RetrainReason.DETECTOR_ALARM, "adwin_error_rate",
                         acc))
    return out


def _drift_checks(policy: PolicySettings, sig: Signals) -> list[Check]:
    """Feature and prediction drift: calibrated thresholds when the signals carry them."""
    out: list[Check] = []
    feature, window = RetrainReason.FEATURE_DRIFT, sig.drift_window
    share = policy.calibrated_recover
    if sig.psi_limits:
        for f, bound in sorted(sig.psi_limits.items()):
            out.append(_check("feature_drift", feature, "psi_calibrated", window, sig.psi.get(f),
                              bound, share * bound, above=True, feature=f))
    else:
        for f, value in sorted(sig.psi.items()):
            out.append(_check("feature_drift", feature, "psi", window, value,
                              policy.psi_threshold, policy.psi_recover, above=True, feature=f))
    calibrated = sig.prediction_psi_limit is not None
    limit = sig.prediction_psi_limit if calibrated else policy.prediction_psi_threshold
    assert limit is not None
    out.append(_check(
        "prediction_drift", RetrainReason.PREDICTION_DRIFT,
        "prediction_psi_calibrated" if calibrated else "prediction_psi", window,
        sig.prediction_psi, limit, share * limit if calibrated else policy.psi_recover,
        above=True, feature="prediction",
    ))
    return out


def triggers(
    policy: PolicySettings,
    baseline: dict[str, float],
    sig: Signals,
    evaluated: list[Check] | None = None,
) -> list[Trigger]:
    """Every condition that fires, most important first (``evaluated``: :func:`checks`' result).

    Feature drift is one trigger over its columns: one column over its calibrated threshold
    fires it, or ``drifted_features`` columns over the fixed ``psi_threshold``.
    """
    out: list[Trigger] = []
    found = checks(policy, baseline, sig) if evaluated is None else evaluated
    for name, group in itertools.groupby(found, key=lambda c: c.trigger):
        hits = [c for c in group if c.fires]
        if name != "feature_drift":
            out.extend(
                Trigger(c.reason, c.metric, c.statistic, c.threshold, c.window) for c in hits
            )
        elif hits and len(hits) >= (1 if sig.psi_limits else policy.drifted_features):
            worst = max(hits, key=_excess)
            out.append(Trigger(worst.reason, worst.metric, worst.statistic, worst.threshold,
                               worst.window, [c.feature for c in hits]))
    return out


def _excess(c: Check) -> float:
    return c.statistic / c.threshold if c.threshold > 0 else c.statistic


def firing(evaluated: list[Check], fired: list[Trigger]) -> dict[str, bool]:
    """Per trigger name of ``evaluated``: whether it is among ``fired``."""
    metrics = {t.metric for t in fired}
    out: dict[str, bool] = {}
    for c in evaluated:
        out[c.trigger] = out.get(c.trigger, False) or c.metric in metrics
    return out


def recovered(
    policy: PolicySettings,
    baseline: dict[str, float],
    sig: Signals,
    evaluated: list[Check] | None = None,
) -> bool:
    """True when every measured signal is back inside its recovery threshold."""
    found = checks(policy, baseline, sig) if evaluated is None else evaluated
    if not all(c.recovered for c in found):
        return False
    return not (
        sig.accuracy is None
        and sig.rmse is None
        and not sig.psi
        and sig.estimated_accuracy is None
    )


def step(
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
