"""Fake models for scoring tests (MLServer ``tests/fixtures.py`` style).

They wrap a real loaded model (same manifest) and change one behaviour:
``SlowModel`` sleeps per batch (GIL released, like real inference),
``ErrorModel`` raises on batches containing a poisoned row, ``NaNModel``
returns NaN for poisoned rows. A row is poisoned when its first feature equals
``POISON``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from streamapp.registry.registry import ModelVersion
from streamapp.runtime.base import FloatMatrix, ScoringModel

POISON = 4242.0


class WrappedModel(ScoringModel):
    """Delegates to ``inner``; subclasses override :meth:`predict`."""

    def __init__(self, inner: ScoringModel) -> None:
        super().__init__(inner.manifest)
        self.inner = inner
        self.runtime = inner.runtime
        self.device = inner.device
        self.calls = 0

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        self.calls += 1
        return self.inner.predict(features)


class SlowModel(WrappedModel):
    """Sleeps ``per_batch_s + per_row_s * rows`` before answering."""

    def __init__(self, inner: ScoringModel, per_batch_s: float = 0.05, per_row_s: float = 0.0):
        super().__init__(inner)
        self.per_batch_s = per_batch_s
        self.per_row_s = per_row_s

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        time.sleep(self.per_batch_s + self.per_row_s * len(features))
        return super().predict(features)


class ErrorModel(WrappedModel):
    """Raises when any row is poisoned."""

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        if (features[:, 0] == POISON).any():
            self.calls += 1
            raise RuntimeError("poisoned row")
        return super().predict(features)


class NaNModel(WrappedModel):
    """Returns NaN scores for poisoned rows."""

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        out = super().predict(features).copy()
        out[features[:, 0] == POISON] = np.nan
        return out


def wrapping_factory(
    wrap: Callable[[ScoringModel], ScoringModel],
) -> Callable[[ModelVersion], ScoringModel]:
    """A model factory that loads the real version (validated) and wraps it."""

    def factory(version: ModelVersion) -> ScoringModel:
        from streamapp.runtime.loader import load_model

        return wrap(load_model(version, "onnx", "cpu"))

    return factory
