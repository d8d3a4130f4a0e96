"""What the monitor needs to know about a model version: classes and reference bins.

:class:`ModelSpec` is built from a version's manifest and reference profile
(``profile.json``) and bins logged predictions on the profile's fixed bins,
vectorised per column. Values that cannot be placed (missing, wrong type, not
finite, outside the manifest range, unknown category) are counted as
data-quality problems and left out of that column's histogram.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Protocol

import numpy as np

from streamapp.features import category_keys
from streamapp.labels import ClassMap
from streamapp.registry.manifest import (
    CategoricalProfile,
    Manifest,
    NumericProfile,
    ReferenceProfile,
    Task,
)
from streamapp.statistics import binning as stats

SCORE_BINS = 1000
"""Bins of the binary score histograms (ROC AUC is exact for scores on this grid)."""
PREDICTION = "prediction"
ESTIMATOR_SCORES = "prediction:score"
"""``Stats.hist`` key of the logged class-1 scores on :data:`ESTIMATOR_BINS` equal bins (binary
models with a CBPE estimator only; read by ``statistics.estimation``)."""
ESTIMATOR_BINS = 100


class Prediction(Protocol):
    """What a spec reads of one logged prediction (the monitor's ``LoggedRecord`` is one)."""

    @property
    def features(self) -> dict[str, Any]: ...
    @property
    def scores(self) -> list[float] | None: ...
    @property
    def predicted_label(self) -> object: ...
    @property
    def predicted_value(self) -> float | None: ...


@dataclass(frozen=True)
class ColumnBins:
    """One profiled column: a feature or the prediction."""

    name: str
    expected: list[float]
    """Reference shares per bin (numeric) or per category (sorted category strings)."""
    edges: list[float] | None = None
    categories: dict[str, int] | None = None
    """Category (as string) → bin; None for numeric columns."""
    low: float | None = None
    high: float | None = None
    memo: dict[tuple[type, object], int | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Raw value (with its type: True == 1) → category bin, for values seen before."""


_MEMO_LIMIT = 10_000
"""Distinct values remembered per column (category bins) and per spec (class indexes)."""


def _column(
    name: str,
    prof: NumericProfile | CategoricalProfile,
    low: Any,
    high: Any,
    categories: list[bool | int | str] | None = None,
) -> ColumnBins:
    """A column of the profile; a categorical one maps each manifest category's other keys
    (``features.category_keys``: ``1`` and ``true`` for ``True``) to the category's bin."""
    if isinstance(prof, CategoricalProfile):
        cats = sorted(prof.frequencies)
        bins = {c: i for i, c in enumerate(cats)}
        for cat in categories or []:
            b = bins.get(str(cat))
            if b is not None:
                for key in category_keys(cat):
                    bins.setdefault(_key(key), b)
        return ColumnBins(name, [prof.frequencies[c] for c in cats], None, bins)
    return ColumnBins(name, prof.proportions, prof.edges, None, low, high)


def _key(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ModelSpec:
    """Classes and reference-profile columns of one model version."""

    def __init__(self, manifest: Manifest, profile: ReferenceProfile) -> None:
        self.manifest = manifest
        self.task = manifest.task
        self.classes = (
            list(manifest.output.classes or []) if manifest.task.is_classification else None
        )
        self._classes = ClassMap(self.classes or [])
        self._memo: dict[tuple[type, object], int] = {}
        self.columns: list[ColumnBins] = []
        for spec in manifest.scalar_features:
            prof = profile.numeric.get(spec.name) or profile.categorical.get(spec.name)
            if prof is not None:
                self.columns.append(
                    _column(spec.name, prof, spec.min, spec.max, spec.categories)
                )
        if manifest.is_tensor_model:  # the sketches of its tensor, text and bytes features
            known = set(manifest.feature_names)
            for name, numeric in profile.numeric.items():
                if name not in known:
                    self.columns.append(_column(name, numeric, None, None))
        self.prediction = _column(PREDICTION, profile.prediction, None, None)
        self.calibration = profile.calibration
        self.estimator = profile.estimator

    def class_index(self, value: object) -> int:
        """Index of a class value (1, "1", 1.0, True: one class, see ``streamapp.labels``);
        -1 when unknown."""
        key = (value.__class__, value)  # the type too: True == 1 but they are mapped apart
        try:
            return self._memo[key]
        except KeyError:
            pass
        except TypeError:  # unhashable: never a class
            return -1
        index = self._classes.index(value)
        found = -1 if index is None else index
        if len(self._memo) < _MEMO_LIMIT:
            self._memo[key] = found
        return found

    def prediction_value(self, p: Prediction) -> object:
        """The value the profile's prediction column describes."""
        if self.task is Task.REGRESSION:
            return p.predicted_value
        if self.task is Task.BINARY:
            return p.scores[1] if p.scores and len(p.scores) == 2 else None
        return p.predicted_label

    def histograms(
        self, preds: Sequence[Prediction]
    ) -> tuple[dict[str, list[int]], dict[str, int]]:
        """Per column counts on the reference bins, and ``feature/problem`` counts."""
        hist: dict[str, list[int]] = {}
        quality: dict[str, int] = {}
        features = [p.features for p in preds]
        for col in self.columns:
            values: list[object] = list(map(dict.get, features, repeat(col.name)))
            hist[col.name] = _bin(col, values, quality)
        predicted = [self.prediction_value(p) for p in preds]
        hist[PREDICTION] = _bin(self.prediction, predicted, {})
        if self.estimator is not None and self.estimator.calibrated:
            hist[ESTIMATOR_SCORES] = score_histogram(predicted)
        return hist, quality


def score_histogram(scores: list[object]) -> list[int]:
    """Counts of the finite scores in [0, 1] (as float32) on :data:`ESTIMATOR_BINS` equal bins."""
    arr = stats.model_values([_number(v) for v in scores])
    arr = arr[np.isfinite(arr) & (arr >= 0) & (arr <= 1)]
    idx = np.minimum((arr * ESTIMATOR_BINS).astype(np.int64), ESTIMATOR_BINS - 1)
    return [int(c) for c in np.bincount(idx, minlength=ESTIMATOR_BINS).tolist()]


def _bin(col: ColumnBins, values: list[object], quality: dict[str, int]) -> list[int]:
    size = len(col.expected)
    problems = {"missing": 0, "out_of_range": 0, "invalid": 0}
    if col.categories is not None:
        idx = []
        memo = col.memo
        for v in values:
            if v is None:
                problems["missing"] += 1
                continue
            key = (v.__class__, v)
            try:
                b = memo[key]
            except KeyError:
                b = memo[key] = col.categories.get(_key(v))
                if len(memo) > _MEMO_LIMIT:
                    memo.clear()
            except TypeError:  # unhashable
                b = None
            if b is None:
                problems["invalid"] += 1
            else:
                idx.append(b)
        counts = np.bincount(np.asarray(idx, dtype=np.int64), minlength=size)
    else:
        assert col.edges is not None
        try:  # fast path: numbers and None (the scorer validated logged features)
            arr = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            arr = np.array([_number(v) for v in values], dtype=np.float64)
        missing = values.count(None)
        finite = np.isfinite(arr)
        problems["missing"] = missing
        problems["invalid"] = int((~finite).sum()) - missing
        inside = finite.copy()
        if col.low is not None:
            inside &= arr >= col.low
        if col.high is not None:
            inside &= arr <= col.high
        problems["out_of_range"] = int(finite.sum() - inside.sum())
        counts = np.bincount(stats.bin_index(col.edges, arr[inside]), minlength=size)
    for problem, n in problems.items():
        if n:
            quality[f"{col.name}/{problem}"] = n
    return [int(c) for c in counts.tolist()]


def _number(value: object) -> float:
    """A number, or NaN for anything that is not (strings, booleans, containers)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)
