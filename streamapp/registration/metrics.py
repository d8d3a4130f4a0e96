"""Task, targets and baseline metrics of a registration (labels via ``streamapp.labels``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.labels import ClassMap, regression_target
from streamapp.registration.frame import RegistrationError
from streamapp.registry.manifest import Task
from streamapp.statistics.heldout import evaluate

TASK_NAMES = {"classification", "regression", *(t.value for t in Task)}


def task_of(
    task: str, classification: bool | None, classes: Sequence[object] | None, y: Any
) -> Task:
    """The manifest task from ``task`` (``auto``, ``classification``, ``regression`` or a
    :class:`Task` value) and what the source model says."""
    if task not in TASK_NAMES | {"auto"}:
        known = ", ".join(sorted(TASK_NAMES))
        raise RegistrationError(f"task {task!r} is not one of auto, {known}")
    if task in (t.value for t in Task):
        return Task(task)
    if task == "auto":
        if classification is None:
            raise RegistrationError("cannot tell the task of a bare artifact; pass --task")
        task = "classification" if classification else "regression"
    if task == "regression":
        return Task.REGRESSION
    n = len(classes) if classes else len({str(v) for v in np.asarray(y)}) if y is not None else 0
    if n < 2:
        raise RegistrationError("a classifier needs its classes: pass --classes or labels")
    return Task.BINARY if n == 2 else Task.MULTICLASS


def targets(task: Task, classes: Sequence[int | str] | None, y: Any) -> npt.NDArray[np.generic]:
    """Labels → class indices or floats, through the one label mapping; raises on a bad one."""
    values = list(np.asarray(y, dtype=object))
    if task.is_classification:
        mapping = ClassMap(classes or [])
        idx = [mapping.index(v) for v in values]
        bad = [v for v, i in zip(values, idx, strict=True) if i is None]
        if bad:
            raise RegistrationError(f"labels {bad[:3]} are not among the classes {classes}")
        return np.asarray(idx, dtype=np.int64)
    floats = [regression_target(v) for v in values]
    if any(f is None for f in floats):
        raise RegistrationError("regression labels must all be finite numbers")
    return np.asarray(floats, dtype=np.float64)


def validation_rows(n: int, share: float, seed: int) -> npt.NDArray[np.intp]:
    """Row indexes of the seeded validation split (baseline metrics, performance estimator)."""
    order = np.random.default_rng(seed).permutation(n)
    picked: npt.NDArray[np.intp] = order[: max(1, round(n * share))]
    return picked


def baseline_metrics(
    task: Task, outputs: npt.NDArray[np.float32], y: npt.NDArray[np.generic] | None
) -> dict[str, float]:
    """Metrics of the served ``outputs`` against ``y`` (held-out rows; empty without labels):
    accuracy or MAE / RMSE / R², and ``n_validation``, the rows they are measured on."""
    if y is None or len(y) < 2:
        return {}
    metrics = evaluate(task, outputs, y)
    if not task.is_classification:
        truth = np.asarray(y, dtype=np.float64)
        total = float(((truth - truth.mean()) ** 2).sum())
        residual = float(((truth - outputs[:, 0]) ** 2).sum())
        metrics["r2"] = 1.0 - residual / total if total > 0 else 0.0
    metrics["n_validation"] = float(len(y))
    return metrics
