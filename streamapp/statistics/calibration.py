"""Calibrated drift triggers: PSI thresholds with a stated false-alarm rate, by bootstrap.

A trigger's target is an expected run length (ERT): events between false alarms
on a stationary stream, e.g. 1e6. The monitor evaluates a drift window of ``W``
events at every checkpoint; the bootstrap replays the worst case, an evaluation
after every event. Per column and replicate it draws

- a reference from the profile's shares (multinomial of the profile's row count:
  the profile's own sampling error, which a live stream also sees), and
- a stream of ``2 W`` events from the shares,

computes the PSI of the windows ending in the second half, one every
``W // 200`` events (windows that close differ in at most 0.5 % of their
events), against the drawn reference, and keeps the block maximum. A block of ``W``
events may alarm with probability ``W / ERT``, so blocks with an alarm come once
per ERT events; the columns of one trigger share that by Šidák
(``1 - (1 - a) ** (1 / k)``). A column gets enough replicates to read its
``1 - alpha`` quantile from the bootstrap itself (``alpha * B >= 10``) when the
trigger's columns need at most :data:`REPLICATE_BUDGET` in all (the one-column
prediction trigger at 1 per 1M events and ``W = 2000``: 5,000); the threshold is then an upper
:data:`CONFIDENCE` bound of the quantile (an order statistic: the realised
false-alarm rate is at or below the target with that confidence). Otherwise (many
feature columns at a rare target) it comes from a Gumbel fit to the ``B`` maxima,
never below the largest one seen; measured conservative for multi-column triggers
(``benchmarks/README.md``). Block maxima of a PSI are in the Gumbel domain; a
free-shape GEV fit on 200 maxima is unstable (shape estimates swing between light
and very heavy tails).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.registry.manifest import (
    CategoricalProfile,
    DriftCalibration,
    NumericProfile,
    ReferenceProfile,
    TriggerCalibration,
    WindowCalibration,
)
from streamapp.settings.monitoring import MonitoringSettings, PolicySettings
from streamapp.statistics.binning import EPS, FloatArray
from streamapp.statistics.spec import ModelSpec

log = logging.getLogger(__name__)

DEFAULT_TARGET = 1_000_000.0
"""Default expected run length: one false alarm per 1M stationary events per trigger."""
DEFAULT_BOOTSTRAP = 200
DEFAULT_WINDOWS = (MonitoringSettings().drift_window,)
"""Window sizes calibrated at registration unless told: the default drift window."""
MIN_TAIL = 10
"""Bootstrap maxima expected beyond a quantile to read it empirically (else a tail fit)."""
REPLICATE_BUDGET = 5_000
"""Most replicates a trigger spends, over its columns, to reach :data:`MIN_TAIL` (each
~0.3 ms at W=2000 on one core, so a trigger takes ~2 s at most)."""
CONFIDENCE = 0.9
"""Confidence that an empirically read threshold's false-alarm rate is at most its target."""
_CHUNK = 25


def shares(profile: NumericProfile | CategoricalProfile) -> FloatArray:
    """Reference shares of a column's bins (categories in sorted order, as the monitor bins)."""
    if isinstance(profile, CategoricalProfile):
        values = [profile.frequencies[c] for c in sorted(profile.frequencies)]
    else:
        values = list(profile.proportions)
    arr = np.asarray(values, dtype=np.float64)
    out: FloatArray = arr / arr.sum()
    return out


def smooth_rows(p: npt.ArrayLike) -> FloatArray:
    """Shares floored at :data:`~streamapp.statistics.binning.EPS` and renormalised (last axis)."""
    arr: FloatArray = np.clip(np.asarray(p, dtype=np.float64), EPS, None)
    out: FloatArray = arr / arr.sum(axis=-1, keepdims=True)
    return out


def psi_rows(expected: npt.ArrayLike, counts: npt.ArrayLike) -> FloatArray:
    """:func:`streamapp.statistics.binning.psi` over the last axis, broadcast over the others."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=-1, keepdims=True)
    a = smooth_rows(np.divide(c, total, out=np.zeros_like(c), where=total > 0))
    e = smooth_rows(expected)
    out: FloatArray = np.sum((a - e) * np.log(a / e), axis=-1)
    return out


def sliding_counts(bins: npt.NDArray[np.integer], k: int, window: int) -> npt.NDArray[np.int32]:
    """Bin counts of every window of ``window`` consecutive events, per row of ``bins``.

    ``bins``: (rows, n) bin indexes; returns (rows, n - window + 1, k).
    """
    rows, n = bins.shape
    cum = np.zeros((rows, n + 1, k), dtype=np.int32)
    for j in range(k):
        np.cumsum(bins == j, axis=1, out=cum[:, 1:, j])
    out: npt.NDArray[np.int32] = cum[:, window:, :] - cum[:, : n + 1 - window, :]
    return out


def block_maxima(
    q: FloatArray, n_ref: int, window: int, bootstrap: int, rng: np.random.Generator
) -> FloatArray:
    """Per replicate, the largest PSI over the ``window + 1`` windows of a block (see module)."""
    k = len(q)
    out = np.empty(bootstrap, dtype=np.float64)
    for start in range(0, bootstrap, _CHUNK):
        b = min(_CHUNK, bootstrap - start)
        reference = rng.multinomial(max(n_ref, 1), q, size=b) / max(n_ref, 1)
        draws = rng.choice(k, size=(b, 2 * window), p=q)
        stride = max(1, window // 200)
        counts = sliding_counts(draws, k, window)[:, stride::stride, :]  # ending in the 2nd half
        out[start : start + b] = psi_rows(reference[:, None, :], counts).max(axis=1)
    return out


def replicates(alpha: float, columns: int, bootstrap: int, budget: int = REPLICATE_BUDGET) -> int:
    """Replicates per column: enough to read the quantile empirically when the budget allows.

    >>> replicates(0.002, 1, 200), replicates(0.002, 9, 200), replicates(0.1, 1, 200)
    (5000, 200, 200)
    """
    need = math.ceil(MIN_TAIL / alpha)
    return need if bootstrap < need and need * columns <= budget else bootstrap


def quantile(maxima: FloatArray, alpha: float) -> float:
    """Threshold whose exceedance probability is ``alpha``, from block maxima (see module).

    Empirically (``alpha * B >= MIN_TAIL``): the ``j``-th largest maximum for the
    largest ``j`` with ``P(Binomial(B, alpha) >= j) >= CONFIDENCE``, so the true
    exceedance probability of the threshold is at most ``alpha`` with that
    confidence. Else a Gumbel fit, never below the largest maximum.
    """
    b = len(maxima)
    if alpha * b >= MIN_TAIL:
        j = int(sps.binom.isf(CONFIDENCE, b, alpha))  # least j: P(X > j) <= CONFIDENCE
        return float(np.sort(maxima)[b - max(j, 1)])
    if float(maxima.min()) == float(maxima.max()):  # a one-bin column: nothing to fit
        return float(maxima.max())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        value = float(sps.gumbel_r.ppf(1 - alpha, *sps.gumbel_r.fit(maxima)))
    return max(value, float(maxima.max())) if math.isfinite(value) else float(maxima.max())


def _trigger(
    columns: dict[str, NumericProfile | CategoricalProfile],
    window: int,
    target: float,
    bootstrap: int,
    rng: np.random.Generator,
    budget: int,
) -> TriggerCalibration:
    block_alpha = min(window / target, 0.5)
    column_alpha = 1 - (1 - block_alpha) ** (1 / len(columns))
    b = replicates(column_alpha, len(columns), bootstrap, budget)
    thresholds = {
        name: quantile(block_maxima(shares(prof), prof.count, window, b, rng), column_alpha)
        for name, prof in columns.items()
    }
    return TriggerCalibration(
        target_run_length=target,
        block_alpha=block_alpha,
        column_alpha=column_alpha,
        thresholds=thresholds,
        replicates=b,
    )


def calibrate(
    profile: ReferenceProfile,
    windows: Sequence[int],
    target_run_length: float = DEFAULT_TARGET,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    budget: int = REPLICATE_BUDGET,
) -> DriftCalibration:
    """Thresholds of the feature-drift and prediction-drift triggers for each window size.

    ``bootstrap`` replicates at least per column; more, within ``budget`` per trigger,
    where that reads the quantile from the bootstrap (see module).
    """
    rng = np.random.default_rng(seed)
    features: dict[str, NumericProfile | CategoricalProfile] = {
        **profile.numeric,
        **profile.categorical,
    }
    out = []
    for window in sorted(set(windows)):
        out.append(
            WindowCalibration(
                window=window,
                feature_drift=(
                    _trigger(features, window, target_run_length, bootstrap, rng, budget)
                    if features
                    else None
                ),
                prediction_drift=_trigger(
                    {"prediction": profile.prediction},
                    window,
                    target_run_length,
                    bootstrap,
                    rng,
                    budget,
                ),
            )
        )
    return DriftCalibration(bootstrap=bootstrap, seed=seed, windows=out)


def with_calibration(
    profile: ReferenceProfile,
    target_run_length: float | None = DEFAULT_TARGET,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> ReferenceProfile:
    """The profile with its drift calibration (unchanged when ``target_run_length`` is None)."""
    if target_run_length is None:
        return profile
    cal = calibrate(profile, windows, target_run_length, bootstrap, seed)
    return profile.model_copy(update={"calibration": cal})


def calibrated(spec: ModelSpec, policy: PolicySettings, window: int) -> WindowCalibration | None:
    """The calibration the policy uses for a drift window (None: fixed thresholds)."""
    if not policy.calibrated_drift or spec.calibration is None:
        return None
    return spec.calibration.for_window(window)


def export_calibration(
    metrics: AggregateMetrics, model: str, version: str, cal: WindowCalibration | None
) -> None:
    """Thresholds and targets as gauges (nothing for an uncalibrated version)."""
    if cal is None:
        return
    for name, trig in (("feature_drift", cal.feature_drift), ("prediction_drift",
                       cal.prediction_drift)):
        if trig is None:
            continue
        metrics.drift_target.labels(model, version, name).set(trig.target_run_length)
        for column, value in trig.thresholds.items():
            metrics.drift_threshold.labels(model, version, name, column).set(value)


def describe(calibration: DriftCalibration | None) -> str:
    """One line per window for ``streamapp models list`` ("-" when uncalibrated)."""
    if calibration is None:
        return "-"
    lines = []
    for w in calibration.windows:
        parts = []
        for name, trig in (("features", w.feature_drift), ("prediction", w.prediction_drift)):
            if trig is not None:
                low, high = min(trig.thresholds.values()), max(trig.thresholds.values())
                span = f"{low:.3g}" if math.isclose(low, high) else f"{low:.3g}-{high:.3g}"
                b = trig.replicates or calibration.bootstrap
                more = f" (B={b})" if b != calibration.bootstrap else ""
                parts.append(f"{name} psi>{span}{more}")
        target = w.prediction_drift.target_run_length if w.prediction_drift else math.nan
        rate = f"1 per {target:.3g} events, B={calibration.bootstrap}"
        lines.append(f"W={w.window}: {', '.join(parts)} ({rate})")
    return "\n".join(lines)
