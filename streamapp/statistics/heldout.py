"""Headline metrics of a model's outputs on held-out rows: accuracy, or MAE and RMSE.

Registration's baseline metrics, the reference trainers and the retrainer's
candidate-versus-serving comparison all measure with :func:`evaluate`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streamapp.registry.manifest import Task


def evaluate(
    task: Task, outputs: npt.NDArray[np.float32], y: npt.NDArray[np.generic]
) -> dict[str, float]:
    """Headline metrics on held-out data: accuracy for classifiers, MAE/RMSE for regressors.

    >>> evaluate(Task.BINARY, np.array([[0.2, 0.8], [0.9, 0.1]], np.float32), np.array([1, 1]))
    {'accuracy': 0.5}
    >>> evaluate(Task.REGRESSION, np.array([[1.0], [3.0]], np.float32), np.array([2.0, 2.0]))
    {'mae': 1.0, 'rmse': 1.0}
    """
    if task.is_classification:
        predicted = outputs.argmax(axis=1)
        return {"accuracy": float((predicted == np.asarray(y)).mean())}
    err = outputs[:, 0].astype(np.float64) - np.asarray(y, dtype=np.float64)
    return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err**2).mean()))}
