"""A batch of events' features as named columns, and the model inputs built from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.processing import ModelInputs, columns
from streamapp.registry.manifest import Manifest

FeatureColumn = npt.NDArray[Any] | list[Any]
"""A tensor feature: ``(n, *shape)`` array, or a list of arrays when one axis varies;
text: a list of ``str``; bytes: a list of ``bytes``."""


@dataclass(frozen=True)
class FeatureBatch:
    """The features of ``n`` events: the scalar features as one float32 matrix (manifest
    order, categories as codes; ``(n, 0)`` without scalars), and each tensor, text or
    bytes feature as a column with one entry per event."""

    matrix: npt.NDArray[np.float32]
    columns: dict[str, FeatureColumn]

    def __len__(self) -> int:
        return len(self.matrix)

    def cost_units(self, manifest: Manifest) -> int:
        """What a model call on this batch pays for, in units the batcher fits its cost to:
        one per event, plus each text's characters, each bytes value's length and each
        variable-length tensor's steps (fixed-shape tensors cost the same per event)."""
        units = len(self)
        for spec in manifest.features:
            if spec.type in ("text", "bytes"):
                units += sum(map(len, self.columns[spec.name]))
            elif spec.type == "tensor" and spec.variable_axis is not None:
                axis = spec.variable_axis
                units += sum(a.shape[axis] for a in self.columns[spec.name])
        return units

    def __getitem__(self, rows: slice | Sequence[int] | npt.NDArray[np.integer[Any]]
                    ) -> FeatureBatch:
        """The rows ``rows`` (a slice, or indices in any order)."""
        if isinstance(rows, slice):
            return FeatureBatch(self.matrix[rows], {k: v[rows] for k, v in self.columns.items()})
        index = np.asarray(rows, dtype=np.intp)
        picked: dict[str, FeatureColumn] = {}
        for name, col in self.columns.items():
            picked[name] = col[index] if isinstance(col, np.ndarray) else [col[i] for i in index]
        return FeatureBatch(self.matrix[index], picked)


def direct_inputs(manifest: Manifest, batch: FeatureBatch) -> ModelInputs:
    """The model inputs of a tensor model without a pre processor: each tensor feature under
    its model input, the scalar matrix (if any) under ``manifest.input_name``."""
    inputs: ModelInputs = {}
    for spec in manifest.features:
        if spec.type == "tensor":
            inputs[spec.model_input] = np.asarray(batch.columns[spec.name])
    if manifest.scalar_features:
        inputs[manifest.input_name] = batch.matrix
    return inputs


def processor_columns(manifest: Manifest, batch: FeatureBatch) -> dict[str, Any]:
    """What a tensor model's pre processor gets: every feature by name, scalars as 1-D
    columns with categories decoded (:func:`streamapp.processing.columns`)."""
    out: dict[str, Any] = columns(manifest.scalar_features, batch.matrix)
    out.update(batch.columns)
    return out
