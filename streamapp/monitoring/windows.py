"""Rolling accuracy windows (count and event-time) with exact metric snapshots.

A window holds compact outcomes ``(t, y, y_hat, score)``; :meth:`snapshot`
recomputes every metric from the window with numpy, so values equal
scikit-learn's on the same set (checked in ``tests/unit/monitoring``). The
protocol mirrors river's metrics: ``update`` then ``snapshot``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Outcome:
    """One joined outcome, reduced to what the metrics need (labels as class indexes)."""

    t: float
    """Event time, epoch seconds."""
    y: float
    y_hat: float
    score: float | None = None
    """P(positive class) for binary classification."""


class Window(Protocol):
    """A rolling window of outcomes."""

    name: str

    def update(self, outcome: Outcome) -> None: ...

    def items(self) -> list[Outcome]: ...


class CountWindow:
    """The last ``size`` outcomes in arrival order."""

    def __init__(self, size: int) -> None:
        self.name = f"count:{size}"
        self._items: deque[Outcome] = deque(maxlen=size)

    def update(self, outcome: Outcome) -> None:
        self._items.append(outcome)

    def items(self) -> list[Outcome]:
        return list(self._items)


class TimeWindow:
    """Outcomes whose event time is within ``seconds`` of the newest event time seen."""

    def __init__(self, seconds: float) -> None:
        self.name = f"time:{seconds:g}s"
        self.seconds = seconds
        self._items: deque[Outcome] = deque()
        self._latest = -math.inf

    def update(self, outcome: Outcome) -> None:
        self._latest = max(self._latest, outcome.t)
        self._items.append(outcome)
        cutoff = self._latest - self.seconds
        while self._items and self._items[0].t < cutoff:
            self._items.popleft()

    def items(self) -> list[Outcome]:
        cutoff = self._latest - self.seconds
        return [o for o in self._items if o.t >= cutoff]


def classification_metrics(items: list[Outcome], n_classes: int) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (binary: positive class 1; else macro), ROC AUC, log loss."""
    if not items:
        return {}
    y = np.fromiter((o.y for o in items), dtype=np.int64, count=len(items))
    p = np.fromiter((o.y_hat for o in items), dtype=np.int64, count=len(items))
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y, p), 1)
    tp = np.diag(cm).astype(np.float64)
    pred_pos = cm.sum(axis=0).astype(np.float64)
    true_pos = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, pred_pos, out=np.zeros_like(tp), where=pred_pos > 0)
    recall = np.divide(tp, true_pos, out=np.zeros_like(tp), where=true_pos > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    out = {"accuracy": float(tp.sum() / len(items))}
    if n_classes == 2:
        out.update(precision=float(precision[1]), recall=float(recall[1]), f1=float(f1[1]))
        scores = [o.score for o in items]
        if all(s is not None for s in scores):
            s = np.asarray(scores, dtype=np.float64)
            out["roc_auc"] = roc_auc(y, s)
            out["log_loss"] = log_loss(y, s)
    else:
        out.update(
            precision=float(precision.mean()), recall=float(recall.mean()), f1=float(f1.mean())
        )
    return out


def roc_auc(y: npt.NDArray[np.int64], score: npt.NDArray[np.float64]) -> float:
    """Exact ROC AUC (Mann-Whitney with tie-averaged ranks); NaN with a single class present."""
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    sorted_scores = score[order]
    ranks = np.empty(len(score), dtype=np.float64)
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def log_loss(y: npt.NDArray[np.int64], score: npt.NDArray[np.float64]) -> float:
    """Mean binary cross-entropy; probabilities clipped to the float64 epsilon."""
    eps = float(np.finfo(np.float64).eps)
    s = np.clip(score, eps, 1 - eps)
    return float(-np.mean(y * np.log(s) + (1 - y) * np.log(1 - s)))


def regression_metrics(items: list[Outcome]) -> dict[str, float]:
    """MAE, RMSE, RMSLE (NaN when any value <= -1), R² (NaN for a constant target)."""
    if not items:
        return {}
    y = np.fromiter((o.y for o in items), dtype=np.float64, count=len(items))
    p = np.fromiter((o.y_hat for o in items), dtype=np.float64, count=len(items))
    err = y - p
    out = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
    if np.all(y > -1) and np.all(p > -1):
        out["rmsle"] = float(np.sqrt(np.mean((np.log1p(y) - np.log1p(p)) ** 2)))
    else:
        out["rmsle"] = float("nan")
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    out["r2"] = 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan")
    return out
