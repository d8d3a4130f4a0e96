"""Rolling drift window of one model version against its reference profile.

Histograms use the profile's fixed bins and are updated incrementally (add the
new row, subtract the evicted one), so PSI / JS / chi-square cost O(bins).
KS is computed at snapshot time from the window's raw numeric values against
the profile's 101 quantiles. Values that cannot be placed (missing, out of the
manifest range, unknown category) are reported as data-quality problems and
left out of that feature's histogram.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from streamapp.features import FeatureEncoder, FeatureError
from streamapp.monitoring import stats
from streamapp.registry.manifest import CategoricalProfile, Manifest, ReferenceProfile
from streamapp.schemas import DeadLetterReason, FeatureValue

_PROBLEM = {
    DeadLetterReason.MISSING_FEATURE: "missing",
    DeadLetterReason.OUT_OF_RANGE: "out_of_range",
}


@dataclass(frozen=True)
class _Column:
    name: str
    position: int  # in the manifest (encoder) order
    expected: list[float]
    edges: list[float] | None  # numeric
    categories: list[str] | None  # categorical: reference category order
    quantiles: list[float] | None


class DriftWindow:
    """The last ``size`` logged predictions of one version, binned per feature and prediction."""

    def __init__(self, manifest: Manifest, profile: ReferenceProfile, size: int) -> None:
        self.encoder = FeatureEncoder(manifest.features, allow_extra=True)
        self.columns: list[_Column] = []
        for pos, spec in enumerate(manifest.features):
            if spec.name in profile.numeric:
                num = profile.numeric[spec.name]
                self.columns.append(
                    _Column(spec.name, pos, num.proportions, num.edges, None, num.quantiles)
                )
            elif spec.name in profile.categorical:
                freq = profile.categorical[spec.name].frequencies
                cats = sorted(freq)
                self.columns.append(
                    _Column(spec.name, pos, [freq[c] for c in cats], None, cats, None)
                )
        pred = profile.prediction
        if isinstance(pred, CategoricalProfile):
            cats = sorted(pred.frequencies)
            self.pred = _Column(
                "prediction", -1, [pred.frequencies[c] for c in cats], None, cats, None
            )
        else:
            self.pred = _Column(
                "prediction", -1, pred.proportions, pred.edges, None, pred.quantiles
            )
        self.size = size
        self._rows: deque[tuple[list[int], list[float]]] = deque()
        self._counts = [np.zeros(len(c.expected), dtype=np.int64) for c in self._all()]

    def _all(self) -> list[_Column]:
        return [*self.columns, self.pred]

    def __len__(self) -> int:
        return len(self._rows)

    def update(
        self, features: Mapping[str, FeatureValue], prediction: float | str
    ) -> list[tuple[str, str]]:
        """Add one prediction; returns the (feature, problem) data-quality findings."""
        problems: list[tuple[str, str]] = []
        bins: list[int] = []
        values: list[float] = []
        for col in self.columns:
            raw = features.get(col.name)
            try:
                if raw is None:
                    raise FeatureError(DeadLetterReason.MISSING_FEATURE, col.name)
                code = self.encoder.encode_value(col.position, raw)
            except FeatureError as exc:
                problems.append((col.name, _PROBLEM.get(exc.reason, "invalid")))
                bins.append(-1)
                values.append(float("nan"))
                continue
            b, v = self._place(col, code)
            bins.append(b)
            values.append(v)
        b, v = self._place(self.pred, prediction)
        bins.append(b)
        values.append(v)
        self._add(bins, +1)
        self._rows.append((bins, values))
        if len(self._rows) > self.size:
            old_bins, _ = self._rows.popleft()
            self._add(old_bins, -1)
        return problems

    def _place(self, col: _Column, value: float | str) -> tuple[int, float]:
        if col.categories is not None:
            key = self._category_key(col, value)
            return (col.categories.index(key) if key in col.categories else -1), float("nan")
        number = float(value)
        assert col.edges is not None
        return int(stats.bin_index(col.edges, [number])[0]), number

    def _category_key(self, col: _Column, value: float | str) -> str:
        if col.position >= 0:
            spec = self.encoder.specs[col.position]
            return str((spec.categories or [])[int(value)])
        return str(value)

    def _add(self, bins: list[int], delta: int) -> None:
        for counts, b in zip(self._counts, bins, strict=True):
            if b >= 0:
                counts[b] += delta

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Per column (features, ``prediction``): psi, js, plus ks (numeric) or chi2."""
        out: dict[str, dict[str, float]] = {}
        for i, col in enumerate(self._all()):
            counts = self._counts[i]
            if counts.sum() == 0:
                continue
            row = {
                "psi": stats.psi(col.expected, counts),
                "js": stats.js_distance(col.expected, counts),
            }
            if col.quantiles is not None:
                sample = np.array([r[1][i] for r in self._rows], dtype=np.float64)
                row["ks"] = stats.ks_statistic(sample[~np.isnan(sample)], col.quantiles)
            else:
                row["chi2"] = stats.chi_square(col.expected, counts)
            out[col.name] = row
        return out
