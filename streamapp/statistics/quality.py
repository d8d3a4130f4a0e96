"""Model quality and drift from merged :class:`~streamapp.statistics.summary.Stats`.

Classification metrics come from the confusion counts (exactly
scikit-learn's on the same outcomes), log loss and regression errors from
fixed-point sums (within 2^-40 per outcome), ROC AUC from the score histograms
(exact for scores on the :data:`~streamapp.statistics.spec.SCORE_BINS` grid,
ties within a bin counted as half). Drift compares the histograms with the
reference shares (PSI, Jensen-Shannon, chi-square; KS over the bin edges).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from streamapp.statistics import binning as stats
from streamapp.statistics.spec import SCORE_BINS, ModelSpec
from streamapp.statistics.summary import SCALE, Stats


def classification(s: Stats, n_classes: int) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (binary: class index 1; else macro), ROC AUC, log loss."""
    if not s.confusion or sum(s.confusion) == 0:
        return {}
    cm = np.asarray(s.confusion, dtype=np.int64).reshape(n_classes, n_classes)
    out = confusion_metrics(cm)
    total = int(cm.sum())
    if n_classes == 2 and s.scored and s.scored == total:
        out["roc_auc"] = roc_auc(s.score_pos, s.score_neg)
        out["log_loss"] = s.log_loss / SCALE / s.scored
    return out


def confusion_metrics(cm: npt.NDArray[np.number]) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (binary: class index 1; else macro) of an actual x
    predicted matrix of counts or expected counts."""
    n_classes = cm.shape[0]
    total = float(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    pred_pos = cm.sum(axis=0).astype(np.float64)
    true_pos = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, pred_pos, out=np.zeros_like(tp), where=pred_pos > 0)
    recall = np.divide(tp, true_pos, out=np.zeros_like(tp), where=true_pos > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    out = {"accuracy": float(tp.sum() / total)}
    if n_classes == 2:
        out.update(precision=float(precision[1]), recall=float(recall[1]), f1=float(f1[1]))
    else:
        out.update(
            precision=float(precision.mean()), recall=float(recall.mean()), f1=float(f1.mean())
        )
    return out


def roc_auc(pos: dict[str, int], neg: dict[str, int]) -> float:
    """Mann-Whitney AUC from per-bin counts; NaN with a single class present.

    >>> roc_auc({"9": 2}, {"1": 1, "9": 1})
    0.75
    """
    p = np.zeros(SCORE_BINS, dtype=np.float64)
    n = np.zeros(SCORE_BINS, dtype=np.float64)
    for k, v in pos.items():
        p[int(k)] = v
    for k, v in neg.items():
        n[int(k)] = v
    n_pos, n_neg = p.sum(), n.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    below = np.cumsum(n) - n  # negatives in lower bins
    return float((p * (below + n / 2)).sum() / (n_pos * n_neg))


def regression(s: Stats) -> dict[str, float]:
    """MAE, RMSE, RMSLE (NaN when any value <= -1), R² (NaN for a constant target)."""
    n = s.sums.get("n", 0)
    if not n:
        return {}
    g = {k: v / SCALE for k, v in s.sums.items() if k not in ("n", "sle_invalid")}
    out = {"mae": g["abs"] / n, "rmse": math.sqrt(g["sq"] / n)}
    out["rmsle"] = math.sqrt(g["sle"] / n) if not s.sums.get("sle_invalid") else float("nan")
    # exact on the fixed-point sums: no cancellation for a target with a small variance
    ss_tot = Fraction(s.sums["y2"], SCALE) - Fraction(s.sums["y"], SCALE) ** 2 / n
    out["r2"] = 1.0 - float(Fraction(s.sums["sq"], SCALE) / ss_tot) if ss_tot > 0 else math.nan
    return out


def model_metrics(spec: ModelSpec, s: Stats) -> dict[str, float]:
    """The quality metrics of the model's task."""
    if spec.classes is None:
        return regression(s)
    return classification(s, len(spec.classes))


def policy_metrics(spec: ModelSpec, s: Stats) -> dict[str, float]:
    """What the retrain policy reads: accuracy (classification) or RMSE (regression).

    The same values as :func:`model_metrics`, without the metrics only the gauges show.
    """
    if spec.classes is None:
        return regression(s)
    n = len(spec.classes)
    total = sum(s.confusion)
    if not total:
        return {}
    right = sum(s.confusion[i * n + i] for i in range(n))
    return {"accuracy": float(np.float64(right) / total)}


def psi(spec: ModelSpec, s: Stats) -> dict[str, float]:
    """PSI per column with logged values (features and ``prediction``), as :func:`drift`."""
    out: dict[str, float] = {}
    for col in [*spec.columns, spec.prediction]:
        counts = s.hist.get(col.name)
        if counts and sum(counts):
            out[col.name] = stats.psi(col.expected, counts)
    return out


def drift(spec: ModelSpec, s: Stats) -> dict[str, dict[str, float]]:
    """Per column (features, ``prediction``): psi, js, plus ks (numeric) or chi2."""
    out: dict[str, dict[str, float]] = {}
    for col in [*spec.columns, spec.prediction]:
        counts = s.hist.get(col.name)
        if not counts or sum(counts) == 0:
            continue
        row = {
            "psi": stats.psi(col.expected, counts),
            "js": stats.js_distance(col.expected, counts),
        }
        if col.edges is not None:
            row["ks"] = stats.ks_binned(col.expected, counts)
        else:
            row["chi2"] = stats.chi_square(col.expected, counts)
        out[col.name] = row
    return out
