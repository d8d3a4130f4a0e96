"""A third-party runtime for the registry tests: an ``.npy`` weight matrix, ``x @ w``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamapp.registry.manifest import Manifest
from streamapp.runtime.base import FloatMatrix, ScoringModel


class NumpyLinear(ScoringModel):
    """``features @ weights``; the weights are an ``.npy`` file loaded without pickle."""

    runtime = "numpy-linear"

    def __init__(self, manifest: Manifest, path: Path, device: str, intra_threads: int = 1) -> None:
        super().__init__(manifest)
        self.device = "cpu"
        self._weights = np.load(path, allow_pickle=False).astype(np.float32)

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        return np.asarray(features @ self._weights, dtype=np.float32)


NOT_A_RUNTIME = object()
