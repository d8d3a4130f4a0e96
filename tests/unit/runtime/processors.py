"""Processors for the processing-contract tests (named by import path in manifests)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

POISON = 4242.0
Cols = Mapping[str, npt.NDArray[np.generic]]


def stack(columns: Cols) -> npt.NDArray[np.float32]:
    """The identity pre processor: columns back to a float32 matrix."""
    return np.column_stack([np.asarray(c, dtype=np.float32) for c in columns.values()])


def poison(columns: Cols) -> npt.NDArray[np.float32]:
    """Like :func:`stack`, but raises on a batch holding a poisoned row."""
    if (np.asarray(next(iter(columns.values()))) == POISON).any():
        raise ValueError("poisoned row")
    return stack(columns)


def too_narrow(columns: Cols) -> npt.NDArray[np.float32]:
    return stack(columns)[:, :3]


def batch_dependent(columns: Cols) -> npt.NDArray[np.float32]:
    """Standardises with the batch's own mean: a row depends on its neighbours."""
    matrix = stack(columns)
    return matrix - matrix.mean(axis=0)


def mutating(columns: Cols) -> npt.NDArray[np.float32]:
    for column in columns.values():
        column *= 2
    return stack(columns)


def double(outputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A post processor: twice the regression value."""
    return outputs * 2


class Scaled:
    """A class processor (instantiated with no arguments)."""

    def __init__(self) -> None:
        self.factor = 1.0

    def __call__(self, columns: Cols) -> npt.NDArray[np.float32]:
        return stack(columns) * self.factor
