"""The processing contract: vectorised user code before and after the artifact.

A manifest may name a ``pre`` and a ``post`` processor by import path
(:class:`~streamapp.registry.manifest.Processing`). Each is a callable — a
function, or a class built with no arguments — applied to a whole batch:

- ``pre(columns) -> matrix``: ``columns`` maps every feature name (manifest
  order) to a 1-D array of the batch's values: ``float32`` for numeric
  features, the category values (``int64`` or ``object`` strings) for
  categorical ones. It returns a ``float32`` matrix ``(n, input_width)``.
- ``post(outputs) -> outputs``: the artifact's ``float32`` output
  ``(n, output_width)`` to the manifest's output ``(n, output.width)``: class
  probabilities, or the regression value.

Processors are imported and checked when a version is validated (load time);
a processor that fails to import or breaks the contract gets the version
rejected while the serving version keeps serving. A processor that raises on a
batch is treated like a model error: the batch is bisected and the failing
events go to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streamapp.plugins import load_object
from streamapp.registry.manifest import FeatureSpec, Manifest

Column = npt.NDArray[np.generic]
Columns = Mapping[str, Column]
PreProcessor = Callable[[Columns], npt.NDArray[np.generic]]
PostProcessor = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.generic]]


@dataclass(frozen=True)
class Processors:
    """The loaded processors of one version (None where the manifest names none)."""

    pre: PreProcessor | None = None
    post: PostProcessor | None = None


def load_callable(path: str, what: str) -> Callable[..., object]:
    """Import a processor; a class is instantiated with no arguments. Raises ``ImportError``."""
    obj = load_object(path, what)
    if isinstance(obj, type):
        obj = obj()
    if not callable(obj):
        raise TypeError(f"{what} {path!r} is not callable (a function or a class with __call__)")
    return obj


def load_processors(manifest: Manifest) -> Processors:
    """Import the processors a manifest names; raises ``ImportError`` / ``TypeError``."""
    p = manifest.processing
    if p is None:
        return Processors()
    pre = load_callable(p.pre, "pre processor") if p.pre else None
    post = load_callable(p.post, "post processor") if p.post else None
    return Processors(pre=pre, post=post)  # type: ignore[arg-type]


def columns(
    features: Sequence[FeatureSpec], matrix: npt.NDArray[np.float32]
) -> dict[str, Column]:
    """Encoded rows (manifest order) → feature columns with categories decoded.

    >>> specs = [FeatureSpec(name="x", type="numeric"),
    ...          FeatureSpec(name="c", type="categorical", categories=["a", "b"])]
    >>> cols = columns(specs, np.array([[0.5, 1.0], [1.5, 0.0]], dtype=np.float32))
    >>> cols["x"].tolist(), cols["c"].tolist()
    ([0.5, 1.5], ['b', 'a'])
    """
    out: dict[str, Column] = {}
    for i, spec in enumerate(features):
        column = matrix[:, i]
        if spec.categories is None:
            out[spec.name] = np.ascontiguousarray(column, dtype=np.float32)
            continue
        cats = spec.categories
        kinds = {type(c) for c in cats}
        table = np.asarray(cats, dtype=np.bool_ if kinds == {bool} else np.int64
                           if kinds == {int} else object)
        out[spec.name] = table[column.astype(np.int64)]
    return out


def as_matrix(value: object, rows: int, width: int, what: str) -> npt.NDArray[np.float32]:
    """A processor's result as a float32 ``(rows, width)`` matrix; raises ``ValueError``."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise ValueError(f"{what} returned dtype {array.dtype}; return a float32 matrix")
    if array.ndim == 1 and width == 1:
        array = array.reshape(-1, 1)
    if array.shape != (rows, width):
        raise ValueError(f"{what} returned shape {array.shape}, expected {(rows, width)}")
    return np.ascontiguousarray(array, dtype=np.float32)
