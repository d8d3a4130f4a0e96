"""Label-free performance estimation from the summaries' histograms, fitted at registration.

Both estimators read only what every summary already carries (logged
predictions per reference-profile bin), so they merge across workers and
windows like everything else and need no labels at run time.

- Classification, ``cbpe-binned``: confidence-based performance estimation on
  the profile's prediction bins (the binary positive-class score's quantile
  bins, or the predicted class). At registration the labelled validation split
  gives, per bin, the shares of the actual x predicted outcomes in it
  (histogram-binning calibration, Zadrozny & Elkan 2001). A window's expected
  confusion matrix is its prediction histogram times those shares; accuracy,
  precision, recall and F1 follow as from a realized matrix.
- Regression, ``dle-additive``: direct loss estimation with an additive error
  model: ``|error|`` and ``error²`` regressed (ridge least squares) on one-hot
  profile bins of every feature and of the prediction. Additive in the bins,
  so a window's mean estimate is the intercept plus each column's effects
  weighted by its histogram shares; estimated MAE and RMSE follow.

Assumptions (see docs/monitoring.md): P(outcome | bin) is as at registration
(no concept drift, calibration stable within a bin), and for regression the
error is additive in the binned columns. Under concept drift the estimate is
expected to be wrong; the estimation error exported once labels arrive says so.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from streamapp.monitoring import quality
from streamapp.monitoring.spec import PREDICTION, ModelSpec
from streamapp.monitoring.stats import bin_index
from streamapp.monitoring.summary import Stats
from streamapp.registry.manifest import (
    CategoricalProfile,
    Manifest,
    NumericProfile,
    PerformanceEstimator,
    ReferenceProfile,
)

RIDGE = 1e-3
"""Ridge penalty (per row) of the additive error model: keeps empty or collinear bins finite."""
MIN_ROWS = 20


def _column_bins(prof: NumericProfile | CategoricalProfile, values: list[object]) -> npt.NDArray[
    np.int64
]:
    """Bins of raw values on a profile column (-1: unknown category)."""
    if isinstance(prof, CategoricalProfile):
        order = {c: i for i, c in enumerate(sorted(prof.frequencies))}
        return np.array([order.get(str(v), -1) for v in values], dtype=np.int64)
    arr = np.asarray(values, dtype=np.float64)
    return np.asarray(bin_index(prof.edges, arr), dtype=np.int64)


def _size(prof: NumericProfile | CategoricalProfile) -> int:
    if isinstance(prof, CategoricalProfile):
        return len(prof.frequencies)
    return len(prof.proportions)


def prediction_values(manifest: Manifest, outputs: npt.NDArray[np.floating]) -> list[object]:
    """The profile's prediction column of model outputs (score of class 1, value, or class)."""
    classes = manifest.output.classes
    if classes is None:
        return [float(v) for v in outputs[:, 0]]
    if len(classes) == 2:
        return [float(v) for v in outputs[:, 1]]
    return [classes[i] for i in outputs.argmax(axis=1)]


def fit(
    manifest: Manifest,
    profile: ReferenceProfile,
    encoded: npt.NDArray[np.floating],
    outputs: npt.NDArray[np.floating],
    y: npt.NDArray[np.generic],
) -> PerformanceEstimator | None:
    """The estimator of a version from labelled rows (None with fewer than MIN_ROWS)."""
    if len(y) < MIN_ROWS:
        return None
    pred_bins = _column_bins(profile.prediction, prediction_values(manifest, outputs))
    k = _size(profile.prediction)
    classes = manifest.output.classes
    if classes is not None:
        n = len(classes)
        actual = np.asarray(y, dtype=np.int64)
        predicted = outputs.argmax(axis=1).astype(np.int64)
        confusion = []
        for b in range(k):
            inside = pred_bins == b
            counts = np.bincount(actual[inside] * n + predicted[inside], minlength=n * n)
            total = counts.sum()
            confusion.append((counts / total).tolist() if total else [0.0] * (n * n))
        return PerformanceEstimator(method="cbpe-binned", samples=len(y), confusion=confusion)
    columns: dict[str, tuple[npt.NDArray[np.int64], int]] = {}
    for i, spec in enumerate(manifest.features):
        prof = profile.numeric.get(spec.name) or profile.categorical.get(spec.name)
        if prof is None:
            continue
        raw = encoded[:, i]
        values: list[object]
        if isinstance(prof, CategoricalProfile):
            cats = spec.categories or []
            values = [cats[int(c)] for c in raw]
        else:
            values = [float(v) for v in raw]
        columns[spec.name] = (_column_bins(prof, values), _size(prof))
    columns[PREDICTION] = (pred_bins, k)
    design = [np.ones((len(y), 1))]
    for bins, size in columns.values():
        onehot = np.zeros((len(y), size))
        ok = bins >= 0
        onehot[np.flatnonzero(ok), bins[ok]] = 1.0
        design.append(onehot)
    x = np.hstack(design)
    err = np.asarray(outputs[:, 0], dtype=np.float64) - np.asarray(y, dtype=np.float64)
    penalty = RIDGE * len(y) * np.eye(x.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    intercept: dict[str, float] = {}
    effects: dict[str, dict[str, list[float]]] = {}
    for target, values_ in (("abs", np.abs(err)), ("sq", err**2)):
        coef = np.linalg.solve(x.T @ x + penalty, x.T @ values_)
        intercept[target] = float(coef[0])
        start, per = 1, {}
        for name, (_, size) in columns.items():
            per[name] = [float(c) for c in coef[start : start + size]]
            start += size
        effects[target] = per
    return PerformanceEstimator(
        method="dle-additive", samples=len(y), intercept=intercept, effects=effects
    )


def estimate(spec: ModelSpec, s: Stats) -> dict[str, float]:
    """Estimated metrics of the logged predictions in ``s`` (empty without an estimator)."""
    est = spec.estimator
    counts = s.hist.get(PREDICTION)
    if est is None or not counts or sum(counts) == 0:
        return {}
    if est.method == "cbpe-binned":
        assert spec.classes is not None
        n = len(spec.classes)
        shares = np.asarray(est.confusion, dtype=np.float64)
        expected = (np.asarray(counts, dtype=np.float64)[:, None] * shares).sum(axis=0)
        if expected.sum() <= 0:
            return {}
        return quality.confusion_metrics(expected.reshape(n, n))
    out: dict[str, float] = {}
    for target in ("abs", "sq"):
        value = est.intercept[target]
        for column, effect in est.effects[target].items():
            hist = s.hist.get(column)
            if hist and sum(hist):
                value += float(np.dot(hist, effect)) / sum(hist)
        out[target] = value
    return {"mae": max(out["abs"], 0.0), "rmse": math.sqrt(max(out["sq"], 0.0))}


def errors(estimated: dict[str, float], realized: dict[str, float]) -> dict[str, float]:
    """Estimated minus realized, per metric both have."""
    return {
        k: v - realized[k]
        for k, v in estimated.items()
        if k in realized and not math.isnan(realized[k])
    }
