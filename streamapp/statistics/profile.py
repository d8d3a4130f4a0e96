"""Reference profile of a training set: the baseline every drift metric compares against."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from streamapp.registry.manifest import (
    CategoricalProfile,
    FeatureSpec,
    Manifest,
    NumericProfile,
    ReferenceProfile,
)
from streamapp.statistics.binning import bin_index, model_values

N_BINS = 10
MIN_PROFILE_ROWS = 200
"""Fewest held-out rows a reference profile is built from (else the training rows, warned)."""

log = logging.getLogger(__name__)


def numeric_profile(values: npt.ArrayLike, n_bins: int = N_BINS) -> NumericProfile:
    """Quantile-binned histogram plus 101 quantiles of one numeric column, as float32.

    Values are taken as the model sees them (float32, :func:`~streamapp.statistics.binning.
    model_values`), and each interior edge is moved to the midpoint between the observed
    values on either side of it (:func:`between_values`), so no edge sits on a value that
    repeats: the monitor puts a live ``0.7`` where the profile put ``float32(0.7)``.

    >>> p = numeric_profile(np.arange(100, dtype=float), n_bins=4)
    >>> p.edges, p.proportions
    ([24.5, 49.5, 74.5], [0.25, 0.25, 0.25, 0.25])
    >>> numeric_profile([0.7] * 6 + [0.8] * 4, n_bins=2).edges
    [0.75]
    """
    data = model_values(values)
    interior = np.quantile(data, np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = between_values(np.unique(data), interior)
    counts = np.bincount(bin_index(edges, data), minlength=len(edges) + 1)
    proportions = counts / counts.sum()
    return NumericProfile(
        edges=[float(e) for e in edges],
        proportions=[float(p) for p in proportions],
        quantiles=[float(q) for q in np.quantile(data, np.linspace(0, 1, 101))],
        mean=float(data.mean()),
        std=float(data.std()),
        min=float(data.min()),
        max=float(data.max()),
        count=len(data),
    )


def between_values(
    distinct: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Each edge moved to the midpoint of the sorted ``distinct`` values around it.

    A value equal to an edge stays in the bin below (``(lo, e]``), so every observed value
    keeps its bin; edges that land together are merged, and edges outside the observed
    range are dropped.

    >>> between_values(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.5, 2.0])).tolist()
    [1.5, 2.5]
    """
    below = np.searchsorted(distinct, edges, side="right") - 1  # largest value <= edge
    inside = (below >= 0) & (below < len(distinct) - 1)
    lo, hi = distinct[below[inside]], distinct[below[inside] + 1]
    return np.unique(lo + (hi - lo) / 2)


def categorical_profile(values: Sequence[object]) -> CategoricalProfile:
    """Frequencies of each category (as string).

    >>> categorical_profile([1, 1, 2, 3]).frequencies
    {'1': 0.5, '2': 0.25, '3': 0.25}
    """
    counts = Counter(str(v) for v in values)
    total = sum(counts.values())
    return CategoricalProfile(
        frequencies={k: counts[k] / total for k in sorted(counts)}, count=total
    )


def build_profile(
    manifest: Manifest, encoded: npt.NDArray[np.float32], outputs: npt.NDArray[np.float32]
) -> ReferenceProfile:
    """Profile of encoded training rows and the model's outputs on them."""
    numeric: dict[str, NumericProfile] = {}
    categorical: dict[str, CategoricalProfile] = {}
    for i, spec in enumerate(manifest.features):
        column = encoded[:, i]
        if spec.type == "categorical":
            categorical[spec.name] = categorical_profile(_categories(spec, column))
        else:
            numeric[spec.name] = numeric_profile(column)
    prediction: NumericProfile | CategoricalProfile
    classes = manifest.output.classes
    if classes is None:
        prediction = numeric_profile(outputs[:, 0])
    elif len(classes) == 2:
        prediction = numeric_profile(outputs[:, 1])
    else:
        prediction = categorical_profile([classes[i] for i in outputs.argmax(axis=1)])
    return ReferenceProfile(
        model_name=manifest.name,
        model_version=manifest.version,
        numeric=numeric,
        categorical=categorical,
        prediction=prediction,
    )


def profile_rows(
    fitted: npt.NDArray[np.float32], holdout: npt.NDArray[np.float32] | None, name: str
) -> npt.NDArray[np.float32]:
    """The rows to profile: ``holdout`` (not fitted on) when it has :data:`MIN_PROFILE_ROWS`,
    else ``fitted`` with a warning (the prediction column's shares are then in-sample)."""
    if holdout is not None and len(holdout) >= MIN_PROFILE_ROWS:
        return holdout
    log.warning(
        "%s: reference profile built from %d rows the model was fitted on (%d held-out rows, "
        "%d needed): its prediction shares are in-sample, so prediction drift reads high",
        name, len(fitted), 0 if holdout is None else len(holdout), MIN_PROFILE_ROWS,
    )
    return fitted


def _categories(spec: FeatureSpec, codes: npt.NDArray[np.float32]) -> list[object]:
    cats = spec.categories or []
    return [cats[int(c)] for c in codes]
