"""The contract every model runtime implements."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

from streamapp.inputs.batch import FeatureBatch, direct_inputs
from streamapp.inputs.sketch import Sketcher
from streamapp.processing import ModelInputs
from streamapp.registry.manifest import Manifest

FloatMatrix = npt.NDArray[np.float32]
ModelRows = FloatMatrix | FeatureBatch
"""A batch the scorer hands a model: the float32 feature matrix, or a tensor model's
named feature columns."""


class ModelLoadError(RuntimeError):
    """An artifact could not be loaded or failed validation; the old version keeps serving."""


class ScoringModel(ABC):
    """A loaded model version that maps a batch of features to its output matrix.

    ``predict`` takes ``(n, n_features)`` float32 rows in manifest feature order and
    returns ``(n, output.width)`` float32: class probabilities for classifiers, the
    value for regressors. ``predict_inputs`` takes named model inputs (a tensor
    model's, or several for a multi-input artifact). ``score`` takes either kind of
    :data:`ModelRows` and is what the scorer calls. Calls must be thread-safe and
    should release the GIL while computing. They raise on a failing batch; the
    caller isolates the poisoned rows.
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

    def predict_inputs(self, inputs: ModelInputs) -> FloatMatrix:
        """Score named model inputs; a single-input runtime takes ``manifest.input_name``.
        Raises ``KeyError`` / ``ValueError`` for other inputs, or what ``predict`` raises."""
        extra = set(inputs) - {self.manifest.input_name}
        if extra:
            raise ValueError(f"{self.runtime} runtime feeds one input "
                             f"({self.manifest.input_name!r}), not {sorted(extra)}")
        return self.predict(inputs[self.manifest.input_name])

    def score(self, rows: ModelRows) -> FloatMatrix:
        """Score what the decoder produced: a feature matrix, or a tensor model's
        :class:`~streamapp.inputs.FeatureBatch` (fed by name, without a pre processor)."""
        if isinstance(rows, FeatureBatch):
            return self.predict_inputs(direct_inputs(self.manifest, rows))
        return self.predict(rows)

    def warmup(self, rows: ModelRows) -> None:
        """Run a few inferences so the first real batch pays no lazy-init cost."""
        for size in (1, min(len(rows), 64), len(rows)):
            if size:
                self.score(rows[:size])

    @functools.cached_property
    def sketcher(self) -> Sketcher:
        """The monitored summaries of a tensor model's features (its pre processor's too)."""
        return Sketcher(self.manifest, getattr(getattr(self, "processors", None), "pre", None))

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release device memory; called after a hot swap retires this version."""
