"""The tests behind canary and shadow verdicts, on mergeable counts (pure functions, scipy).

Every test returns a :class:`TestResult`: the effect (positive means the candidate
is better), a two-sided interval for it at the requested level, and a two-sided
p-value for "no difference". Inputs are the integer counts and fixed-point sums
the data plane folds (:mod:`streamapp.monitoring.dataplane.comparison`), so any number of
workers and partitions give the same answer.

- Shadow, classification: McNemar's test on the discordant pairs (exact
  binomial below :data:`EXACT_BELOW` discordant pairs, chi-square with
  continuity correction otherwise); effect = accuracy difference.
- Shadow, regression: paired bootstrap of d = |e_primary| - |e_candidate|; the
  mean is exact (fixed-point sums), the resampling runs on a log-bucketed
  histogram of d (:func:`hist_index`).
- Canary, classification: two-proportion z-test (pooled), Fisher's exact test
  while an expected cell count is below 5.
- Canary, regression: Welch's t-test on absolute errors (n, sum |e|, sum e^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

EXACT_BELOW = 25
"""McNemar: discordant pairs below this use the exact binomial test."""
HIST_ACCURACY = 0.02
"""Relative accuracy of the paired-difference histogram bins (DDSketch-style)."""
_GAMMA = (1 + HIST_ACCURACY) / (1 - HIST_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
ZERO_BELOW = 1e-12
"""|d| below this falls in the zero bin."""


@dataclass(frozen=True)
class TestResult:
    """One test's outcome (effect > 0: the candidate is better)."""

    __test__ = False  # not a pytest class

    test: str
    effect: float
    lower: float
    upper: float
    p_value: float
    level: float
    """Confidence level of [lower, upper]."""


def mcnemar(n: int, b: int, c: int, level: float) -> TestResult:
    """Paired classification: ``b`` pairs only the candidate got right, ``c`` only the primary.

    The interval is the Wald interval of the paired accuracy difference (b - c) / n.

    >>> r = mcnemar(100, 10, 2, 0.95)
    >>> r.test, round(r.effect, 2), round(r.p_value, 4)
    ('mcnemar_exact', 0.08, 0.0386)
    """
    if n <= 0:
        return TestResult("mcnemar_exact", 0.0, -1.0, 1.0, 1.0, level)
    discordant = b + c
    if discordant == 0:
        p, name = 1.0, "mcnemar_exact"
    elif discordant < EXACT_BELOW:
        p = float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), discordant, 0.5)))
        name = "mcnemar_exact"
    else:
        chi2 = (abs(b - c) - 1) ** 2 / discordant
        p, name = float(stats.chi2.sf(chi2, 1)), "mcnemar_chi2"
    effect = (b - c) / n
    var = max(0.0, discordant / n - effect**2) / n
    half = _z(level) * math.sqrt(var)
    return TestResult(name, effect, effect - half, effect + half, p, level)


def two_proportions(n_c: int, right_c: int, n_p: int, right_p: int, level: float) -> TestResult:
    """Unpaired classification: candidate accuracy right_c/n_c vs primary right_p/n_p.

    Pooled z-test (equal to a chi-square test of the 2x2 table without correction);
    Fisher's exact test while any expected cell count is below 5. The interval is
    the unpooled Wald interval of the difference.
    """
    if n_c <= 0 or n_p <= 0:
        return TestResult("z_test", 0.0, -1.0, 1.0, 1.0, level)
    pc, pp = right_c / n_c, right_p / n_p
    effect = pc - pp
    right, total = right_c + right_p, n_c + n_p
    expected = min(n * share for n in (n_c, n_p) for share in (right / total, 1 - right / total))
    if expected < 5:
        table = [[right_c, n_c - right_c], [right_p, n_p - right_p]]
        p, name = float(stats.fisher_exact(table).pvalue), "fisher_exact"
    else:
        pooled = right / total
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_p))
        p = 1.0 if se0 == 0 else float(2 * stats.norm.sf(abs(effect) / se0))
        name = "z_test"
    half = _z(level) * math.sqrt(pc * (1 - pc) / n_c + pp * (1 - pp) / n_p)
    return TestResult(name, effect, effect - half, effect + half, p, level)


def welch_abs_error(
    n_c: int, abs_c: float, sq_c: float, n_p: int, abs_p: float, sq_p: float, level: float
) -> TestResult:
    """Unpaired regression: Welch's t-test of mean absolute errors (effect = MAE_p - MAE_c).

    ``abs_*`` = sum |e|, ``sq_*`` = sum e^2 (= sum |e|^2), so the variances of |e| follow.
    """
    if n_c < 2 or n_p < 2:
        return TestResult("welch_t", 0.0, -math.inf, math.inf, 1.0, level)
    mc, mp = abs_c / n_c, abs_p / n_p
    vc = max(0.0, (sq_c - n_c * mc * mc) / (n_c - 1))
    vp = max(0.0, (sq_p - n_p * mp * mp) / (n_p - 1))
    se2 = vc / n_c + vp / n_p
    effect = mp - mc
    if se2 <= 0:
        p = 1.0 if effect == 0 else 0.0
        return TestResult("welch_t", effect, effect, effect, p, level)
    dof = se2**2 / ((vc / n_c) ** 2 / (n_c - 1) + (vp / n_p) ** 2 / (n_p - 1))
    se = math.sqrt(se2)
    p = float(2 * stats.t.sf(abs(effect) / se, dof))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return TestResult("welch_t", effect, effect - half, effect + half, p, level)


def hist_index(d: np.ndarray) -> np.ndarray:
    """Signed bin index of each paired difference: 0 for |d| < ZERO_BELOW, else
    sign(d) * (1 + ceil(log_gamma(|d| / ZERO_BELOW))). Every value is within
    :data:`HIST_ACCURACY` (relative) of its bin's representative (:func:`hist_value`).

    >>> hist_index(np.array([0.0, 1.0, -1.0])).tolist()
    [0, 1383, -1383]
    """
    mag = np.abs(d)
    safe = np.maximum(mag, ZERO_BELOW)
    idx = 1 + np.ceil(np.log(safe / ZERO_BELOW) / _LOG_GAMMA).astype(np.int64)
    return np.where(mag < ZERO_BELOW, 0, np.sign(d).astype(np.int64) * idx)


def hist_value(index: np.ndarray) -> np.ndarray:
    """The representative value of each bin index (inverse of :func:`hist_index`)."""
    k = np.abs(index) - 1
    mag = ZERO_BELOW * 2 * _GAMMA**k / (_GAMMA + 1)
    return np.where(index == 0, 0.0, np.sign(index) * mag)


def paired_bootstrap(
    n: int, mean: float, hist: dict[int, int], level: float, resamples: int, seed: int
) -> TestResult:
    """Paired regression: bootstrap of the mean of d = |e_p| - |e_c| (effect = the exact mean).

    Resampling n pairs with replacement from the (binned) sample is a multinomial
    draw over the histogram's bins. The bootstrap distribution of the resampled
    mean minus the binned mean is the estimation error; centred on the exact mean
    it gives the basic bootstrap interval, and the share of resampled errors at
    least as large as |mean| the two-sided p-value (so the bins' rounding cancels
    in the centre). Deterministic for a given ``seed``.
    """
    if n < 2 or not hist:
        return TestResult("paired_bootstrap", mean, -math.inf, math.inf, 1.0, level)
    keys = np.array(sorted(hist), dtype=np.int64)
    counts = np.array([hist[int(k)] for k in keys], dtype=np.int64)
    values = hist_value(keys)
    probs = counts / counts.sum()
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(int(counts.sum()), probs, size=resamples)
    means = draws @ values / counts.sum()
    errors = means - float(probs @ values)
    lo_q, hi_q = np.quantile(errors, [0.5 - level / 2, 0.5 + level / 2])
    extreme = int(np.count_nonzero(np.abs(errors) >= abs(mean)))
    p = min(1.0, (1 + extreme) / (resamples + 1))
    if mean == 0:
        p = 1.0
    return TestResult("paired_bootstrap", mean, mean - float(hi_q), mean - float(lo_q), p, level)


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))
