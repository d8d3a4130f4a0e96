"""Reference profile of a training set: the baseline every drift metric compares against."""

from __future__ import annotations

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

N_BINS = 10


def numeric_profile(values: npt.NDArray[np.floating], n_bins: int = N_BINS) -> NumericProfile:
    """Quantile-binned histogram plus 101 quantiles of one numeric column.

    >>> p = numeric_profile(np.arange(100, dtype=float), n_bins=4)
    >>> p.edges, p.proportions
    ([24.75, 49.5, 74.25], [0.25, 0.25, 0.25, 0.25])
    """
    data = np.asarray(values, dtype=np.float64)
    interior = np.quantile(data, np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = np.unique(interior)
    counts = np.bincount(np.searchsorted(edges, data, side="left"), minlength=len(edges) + 1)
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


def _categories(spec: FeatureSpec, codes: npt.NDArray[np.float32]) -> list[object]:
    cats = spec.categories or []
    return [cats[int(c)] for c in codes]
