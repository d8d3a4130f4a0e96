"""A tensor model's reference rows on disk: ``reference.npz``, plain arrays, no pickle.

Keys: ``matrix`` (the scalar features, float32 ``(n, k)``); per fixed-shape tensor
feature its ``(n, *shape)`` array; per variable-shape tensor ``NAME.data`` (the
values, concatenated along the variable axis) and ``NAME.sizes``; per text
feature ``NAME.data`` (UTF-8, concatenated) and ``NAME.offsets`` (``n + 1``);
per bytes feature the same two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.inputs.batch import FeatureBatch, FeatureColumn
from streamapp.registry.manifest import Manifest

TENSOR_REFERENCE_FILE = "reference.npz"


def save_reference(path: Path, manifest: Manifest, batch: FeatureBatch, limit: int) -> None:
    """Write the first ``limit`` rows of ``batch`` to ``path`` (``reference.npz``)."""
    rows = batch[slice(0, limit)]
    arrays: dict[str, npt.NDArray[Any]] = {"matrix": np.ascontiguousarray(rows.matrix)}
    for spec in manifest.features:
        if spec.is_scalar:
            continue
        column = rows.columns[spec.name]
        if spec.type == "tensor" and spec.variable_axis is None:
            arrays[spec.name] = np.ascontiguousarray(column)
        elif spec.type == "tensor":
            axis = spec.variable_axis
            arrays[f"{spec.name}.sizes"] = np.array([a.shape[axis] for a in column], np.int64)
            arrays[f"{spec.name}.data"] = (np.concatenate(list(column), axis=axis) if len(column)
                                          else np.zeros(0))
        else:
            raw = [v.encode() if spec.type == "text" else bytes(v) for v in column]
            arrays[f"{spec.name}.offsets"] = np.cumsum([0, *map(len, raw)], dtype=np.int64)
            arrays[f"{spec.name}.data"] = np.frombuffer(b"".join(raw), np.uint8)
    with path.open("wb") as f:
        np.savez(f, allow_pickle=False, **arrays)


def load_reference(path: Path, manifest: Manifest, limit: int | None = None) -> FeatureBatch:
    """Read ``reference.npz``; raises ``OSError``/``KeyError``/``ValueError`` when a file or
    key is missing or does not match the manifest."""
    with np.load(path, allow_pickle=False) as data:
        matrix = np.asarray(data["matrix"], dtype=np.float32)
        n = len(matrix) if limit is None else min(len(matrix), limit)
        if matrix.shape[1:] != (len(manifest.scalar_features),):
            raise ValueError(f"reference matrix has shape {matrix.shape}, manifest has "
                             f"{len(manifest.scalar_features)} scalar features")
        columns: dict[str, FeatureColumn] = {}
        for spec in manifest.features:
            if spec.is_scalar:
                continue
            name = spec.name
            if spec.type == "tensor" and spec.variable_axis is None:
                array = data[name][:n]
                if array.shape[1:] != tuple(spec.shape or ()):
                    raise ValueError(f"reference {name!r} has shape {array.shape}")
                columns[name] = array.astype(spec.dtype or "float32")
            elif spec.type == "tensor":
                axis = spec.variable_axis or 0
                sizes = data[f"{name}.sizes"][:n]
                bounds = np.cumsum(sizes)[:-1]
                columns[name] = [a.astype(spec.dtype or "float32") for a in
                                 np.split(data[f"{name}.data"], bounds, axis=axis)[:n]]
            else:
                offsets = data[f"{name}.offsets"]
                blob = data[f"{name}.data"].tobytes()
                raw = [blob[offsets[i]:offsets[i + 1]] for i in range(n)]
                columns[name] = [r.decode() for r in raw] if spec.type == "text" else raw
    return FeatureBatch(matrix[:n], columns)
