"""The contract every model runtime implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

from streamapp.registry.manifest import Manifest

FloatMatrix = npt.NDArray[np.float32]


class ModelLoadError(RuntimeError):
    """An artifact could not be loaded or failed validation; the old version keeps serving."""


class ScoringModel(ABC):
    """A loaded model version that maps a float32 feature matrix to its output matrix.

    ``predict`` takes ``(n, n_features)`` float32 rows in manifest feature order and
    returns ``(n, output.width)`` float32: class probabilities for classifiers, the
    value for regressors. It must be thread-safe for concurrent calls and should
    release the GIL while computing. It raises on a failing batch; the caller
    isolates the poisoned rows.
    """

    runtime: str
    device: str

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @abstractmethod
    def predict(self, features: FloatMatrix) -> FloatMatrix:
        """Score a batch; raises on failure (the batch is then bisected by the caller)."""

    def warmup(self, rows: FloatMatrix) -> None:
        """Run a few inferences so the first real batch pays no lazy-init cost."""
        for size in (1, min(len(rows), 64), len(rows)):
            if size:
                self.predict(rows[:size])

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release device memory; called after a hot swap retires this version."""
