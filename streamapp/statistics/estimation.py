"""Label-free performance estimation from the summaries' histograms, fitted at registration.

Both estimators read only what every summary already carries (logged
predictions per reference-profile bin), so they merge across workers and
windows like everything else and need no labels at run time.

- Binary classification, ``cbpe``: confidence-based performance estimation.
  At registration the class-1 scores are calibrated on the labelled validation
  split by isotonic regression (scipy), evaluated at the centres of 100 equal
  score bins; the data plane histograms logged scores on those bins. A window's
  expected confusion matrix adds, per bin, ``count x p`` to the actual-1 cell and
  ``count x (1 - p)`` to the actual-0 cell of the bin's predicted class (1 from
  score 0.5 up); accuracy, precision, recall and F1 follow as from a realized one.
- Multiclass (and binary summaries without the score histogram), ``cbpe-binned``:
  the same on the profile's prediction bins (binary score quantile bins, or the
  predicted class), with the validation split's actual x predicted shares per
  bin (histogram-binning calibration, Zadrozny & Elkan 2001).
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
from scipy.optimize import isotonic_regression

from streamapp.registry.manifest import (
    CategoricalProfile,
    Manifest,
    NumericProfile,
    PerformanceEstimator,
    ReferenceProfile,
)
from streamapp.statistics import quality
from streamapp.statistics.binning import bin_index
from streamapp.statistics.spec import ESTIMATOR_BINS, ESTIMATOR_SCORES, PREDICTION, ModelSpec
from streamapp.statistics.summary import Stats

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
        calibrated = _isotonic(outputs[:, 1], actual) if n == 2 else []
        return PerformanceEstimator(
            method="cbpe" if calibrated else "cbpe-binned",
            samples=len(y),
            confusion=confusion,
            calibrated=calibrated,
        )
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


def _isotonic(scores: npt.NDArray[np.floating], actual: npt.NDArray[np.int64]) -> list[float]:
    """Isotonic P(class 1 | score) at the centres of the ESTIMATOR_BINS equal score bins."""
    order = np.argsort(scores, kind="stable")
    x = np.asarray(scores, dtype=np.float64)[order]
    fitted = isotonic_regression(actual[order].astype(np.float64), increasing=True).x
    centres = (np.arange(ESTIMATOR_BINS) + 0.5) / ESTIMATOR_BINS
    return [float(v) for v in np.interp(centres, x, fitted)]


def _cbpe(calibrated: list[float], counts: list[int]) -> dict[str, float]:
    c = np.asarray(counts, dtype=np.float64)
    p = np.asarray(calibrated, dtype=np.float64)
    positive = (np.arange(len(c)) + 0.5) / len(c) >= 0.5  # predicted class 1
    cm = np.array(
        [
            [np.sum(c * (1 - p) * ~positive), np.sum(c * (1 - p) * positive)],
            [np.sum(c * p * ~positive), np.sum(c * p * positive)],
        ]
    )
    return quality.confusion_metrics(cm) if cm.sum() > 0 else {}


def estimate(spec: ModelSpec, s: Stats) -> dict[str, float]:
    """Estimated metrics of the logged predictions in ``s`` (empty without an estimator)."""
    est = spec.estimator
    counts = s.hist.get(PREDICTION)
    if est is None or not counts or sum(counts) == 0:
        return {}
    scores = s.hist.get(ESTIMATOR_SCORES)
    if est.calibrated and scores and sum(scores):
        return _cbpe(est.calibrated, scores)
    if est.method in ("cbpe", "cbpe-binned"):
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
