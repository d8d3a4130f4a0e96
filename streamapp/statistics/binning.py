"""Drift statistics against a reference profile: PSI, two-sample KS, Jensen-Shannon, chi-square.

Pure numpy; every function is checked against a direct numpy/scipy computation
in ``tests/unit/statistics/test_binning.py``. Bins follow the reference profile:
interior edges ``e`` give bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``.

One numeric representation: every value is binned as the float32 the model
sees (:func:`model_values`), whether the profile bins encoded reference rows and
float32 model outputs at registration or the monitor bins the float64 numbers it
decodes from JSON. A producer's ``0.7`` and the reference's ``float32(0.7)``
fall in the same bin; see docs/monitoring.md, "One numeric representation".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

EPS = 1e-4
"""Floor applied to proportions so empty bins give a finite PSI / JS / chi-square."""

FloatArray = npt.NDArray[np.float64]


def model_values(values: npt.ArrayLike) -> FloatArray:
    """``values`` rounded to float32, as the model sees them (as float64; beyond float32's
    range: +-inf, NaN stays NaN).

    >>> float(model_values([0.7])[0]) == float(np.float32(0.7))
    True
    """
    with np.errstate(over="ignore"):
        out: FloatArray = np.asarray(values, dtype=np.float64).astype(np.float32).astype(
            np.float64
        )
    return out


def bin_index(
    edges: Sequence[float] | npt.ArrayLike, values: npt.ArrayLike
) -> npt.NDArray[np.intp]:
    """Bin of each value, as float32 (:func:`model_values`), for right-closed bins
    ``(e[i-1], e[i]]``.

    >>> bin_index([1.0, 2.0], [0.5, 1.0, 1.5, 2.0, 9.0]).tolist()
    [0, 0, 1, 1, 2]
    >>> bin_index([float(np.float32(0.7))], [0.7, np.float32(0.7)]).tolist()
    [0, 0]
    """
    return np.searchsorted(np.asarray(edges, dtype=np.float64), model_values(values), side="left")


def _smooth(p: npt.ArrayLike) -> FloatArray:
    arr: FloatArray = np.clip(np.asarray(p, dtype=np.float64), EPS, None)
    return arr / float(arr.sum())


def proportions(counts: npt.ArrayLike) -> FloatArray:
    """Counts → shares (all zeros stay zeros)."""
    arr: FloatArray = np.asarray(counts, dtype=np.float64)
    total = float(arr.sum())
    return arr / total if total > 0 else arr


def psi(expected: npt.ArrayLike, counts: npt.ArrayLike) -> float:
    """Population stability index of observed ``counts`` vs reference shares ``expected``.

    ``sum((a - e) * ln(a / e))`` over bins, both sides floored at :data:`EPS`.

    >>> round(psi([0.5, 0.5], [50, 50]), 6)
    0.0
    """
    e = _smooth(expected)
    a = _smooth(proportions(counts))
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(expected: npt.ArrayLike, counts: npt.ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between reference shares and observed counts.

    >>> js_distance([0.5, 0.5], [10, 10])
    0.0
    """
    p = _smooth(expected)
    q = _smooth(proportions(counts))
    m = (p + q) / 2
    div = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    return float(np.sqrt(max(div, 0.0)))


def chi_square(expected: npt.ArrayLike, counts: npt.ArrayLike) -> float:
    """Pearson chi-square statistic of ``counts`` vs reference shares (floored at EPS).

    >>> chi_square([0.5, 0.5], [5, 5])
    0.0
    """
    obs = np.asarray(counts, dtype=np.float64)
    exp = _smooth(expected) * obs.sum()
    return float(np.sum((obs - exp) ** 2 / exp))


def ks_binned(expected: npt.ArrayLike, counts: npt.ArrayLike) -> float:
    """Kolmogorov-Smirnov distance between binned CDFs, evaluated at the bin edges.

    ``max_i |F_obs(e_i) - F_ref(e_i)|`` with both CDFs from the reference bins
    (no smoothing): the KS statistic restricted to the profile's edges, a
    lower bound of the two-sample statistic on the raw values.

    >>> ks_binned([0.5, 0.5], [10, 0])
    0.5
    """
    e = np.cumsum(np.asarray(expected, dtype=np.float64))
    e = e / e[-1]
    a = np.cumsum(proportions(counts))
    return float(np.max(np.abs(a - e)))


def ks_statistic(sample: npt.ArrayLike, reference: npt.ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic ``sup |F_sample - F_reference|``.

    The reference is the profile's 101 quantiles, used as a sample.

    >>> ks_statistic([1.0, 2.0], [1.0, 2.0])
    0.0
    """
    a = np.sort(np.asarray(sample, dtype=np.float64))
    b = np.sort(np.asarray(reference, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        return float("nan")
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))
