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

For models with ``tensor``, ``text`` or ``bytes`` features (tensor models), ``pre``
gets the batch's :class:`~streamapp.inputs.FeatureBatch` columns (a tensor
feature as one ``(n, *shape)`` array, or a list of arrays when it has a variable
axis; text as a list of ``str``; bytes as a list of ``bytes``) and returns the
model's named inputs, ``{input name: array}`` with ``n`` rows each, or a list of
:class:`Bucket` (rows grouped, e.g. by length, each bucket with its own inputs;
the model runs once per bucket). Rows it cannot use are reported by raising
:class:`RowErrors` with a dead-letter reason each; the rest of the batch is
scored. A processor class may be built ``from_context(ProcessorContext)`` to
read files shipped in the version (a ``tokenizer.json``) and the manifest's
``processing.options``; it may also offer ``sketch(columns) -> {name: 1-D
array}``, scalar summaries of its inputs that the monitor profiles for drift
(e.g. token counts and unknown-token rates).

Processors are imported and checked when a version is validated (load time);
a processor that fails to import or breaks the contract gets the version
rejected while the serving version keeps serving. A processor that raises on a
batch is treated like a model error: the batch is bisected and the failing
events go to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.plugins import load_object
from streamapp.registry.manifest import FeatureSpec, Manifest
from streamapp.schemas import DeadLetterReason

Column = npt.NDArray[np.generic]
Columns = Mapping[str, Column]
PreProcessor = Callable[[Columns], npt.NDArray[np.generic]]
PostProcessor = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.generic]]
ModelInputs = dict[str, npt.NDArray[Any]]
"""Named model inputs, each with one row (first axis) per event."""


@dataclass(frozen=True)
class Bucket:
    """Some rows of a batch (indices into it) with the model inputs built for them alone,
    e.g. token ids padded to the bucket's length instead of the batch's longest."""

    rows: npt.NDArray[np.int64]
    inputs: ModelInputs


class RowErrors(ValueError):
    """Raised by a pre processor: these rows are bad input, each with its dead-letter reason
    and detail; the scorer dead-letters them and scores the rest of the batch."""

    def __init__(self, errors: Mapping[int, tuple[DeadLetterReason, str]]) -> None:
        self.errors = dict(errors)
        first = next(iter(self.errors.items()), None)
        super().__init__(f"{len(self.errors)} bad rows" + (f", e.g. row {first[0]}: "
                                                          f"{first[1][1]}" if first else ""))


@dataclass(frozen=True)
class ProcessorContext:
    """What a processor built ``from_context`` may read: the manifest, the version's
    checksum-verified files by artifact format (``{"tokenizer": Path(...)}``), and
    ``processing.options``."""

    manifest: Manifest
    files: Mapping[str, Path] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def file(self, fmt: str) -> Path:
        """The version's file of artifact format ``fmt``; raises ``FileNotFoundError``."""
        try:
            return self.files[fmt]
        except KeyError:
            raise FileNotFoundError(
                f"the version ships no {fmt!r} artifact (has {sorted(self.files)})"
            ) from None


@dataclass(frozen=True)
class Processors:
    """The loaded processors of one version (None where the manifest names none)."""

    pre: PreProcessor | None = None
    post: PostProcessor | None = None


def load_callable(
    path: str, what: str, context: ProcessorContext | None = None
) -> Callable[..., object]:
    """Import a processor; a class is built ``from_context(context)`` when it has that
    classmethod and a context is given, else with no arguments. Raises ``ImportError``
    (or what ``from_context`` raises: ``FileNotFoundError``, ``ValueError``)."""
    obj = load_object(path, what)
    if isinstance(obj, type):
        factory = getattr(obj, "from_context", None)
        obj = factory(context) if factory is not None and context is not None else obj()
    if not callable(obj):
        raise TypeError(f"{what} {path!r} is not callable (a function or a class with __call__)")
    return obj


def load_processors(
    manifest: Manifest, files: Mapping[str, Path] | None = None
) -> Processors:
    """Import the processors a manifest names (``files``: the version's verified files by
    format, for :class:`ProcessorContext`); raises ``ImportError`` / ``TypeError``."""
    p = manifest.processing
    if p is None:
        return Processors()
    context = ProcessorContext(manifest, dict(files or {}), p.options)
    pre = load_callable(p.pre, "pre processor", context) if p.pre else None
    post = load_callable(p.post, "post processor", context) if p.post else None
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
