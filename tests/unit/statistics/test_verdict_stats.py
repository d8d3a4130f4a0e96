"""The verdict tests against scipy oracles computed on the raw data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from streamapp.statistics import verdict_stats as vs


def _pairs(n: int, p_primary: float, p_candidate: float, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    shared = rng.uniform(size=n)  # correlated errors, as two versions of one model have
    own = rng.uniform(size=n)
    mix = np.where(rng.uniform(size=n) < 0.7, shared, own)
    return mix < p_primary, np.where(rng.uniform(size=n) < 0.7, shared, rng.uniform(size=n)) < (
        p_candidate
    )


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 9), (12, 12), (1, 23), (40, 61), (300, 250)])
def test_mcnemar_matches_the_binomial_and_chi_square_oracles(b: int, c: int) -> None:
    r = vs.mcnemar(1000, b, c, 0.95)
    if b + c == 0:
        assert r.p_value == 1.0
    elif b + c < vs.EXACT_BELOW:
        assert r.test == "mcnemar_exact"
        assert r.p_value == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)
    else:
        assert r.test == "mcnemar_chi2"
        # continuity-corrected McNemar = chi-square of the discordant cells against b = c
        table_stat = (abs(b - c) - 1) ** 2 / (b + c)
        assert r.p_value == pytest.approx(stats.chi2.sf(table_stat, 1), rel=1e-9)
        # and it agrees with the exact test where both are fine
        assert r.p_value == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, abs=0.02)
    assert r.effect == pytest.approx((b - c) / 1000)


def test_mcnemar_counts_from_raw_pairs_and_interval_covers_the_difference() -> None:
    right_p, right_c = _pairs(5000, 0.80, 0.83, seed=1)
    b = int(np.sum(right_c & ~right_p))
    c = int(np.sum(right_p & ~right_c))
    r = vs.mcnemar(5000, b, c, 0.95)
    diff = right_c.mean() - right_p.mean()
    assert r.effect == pytest.approx(diff)
    # Wald interval of a paired difference: sd of the per-pair differences / sqrt(n)
    d = right_c.astype(float) - right_p.astype(float)
    half = stats.norm.ppf(0.975) * d.std(ddof=0) / math.sqrt(len(d))
    assert (r.lower, r.upper) == pytest.approx((diff - half, diff + half), rel=1e-9)


@pytest.mark.parametrize(("n_c", "r_c", "n_p", "r_p"), [(400, 330, 3600, 2880), (90, 60, 800, 560)])
def test_two_proportions_is_the_chi_square_test_of_the_2x2_table(
    n_c: int, r_c: int, n_p: int, r_p: int
) -> None:
    r = vs.two_proportions(n_c, r_c, n_p, r_p, 0.95)
    table = [[r_c, n_c - r_c], [r_p, n_p - r_p]]
    oracle = stats.chi2_contingency(table, correction=False).pvalue
    assert r.test == "z_test"
    assert r.p_value == pytest.approx(oracle, rel=1e-9)
    assert r.effect == pytest.approx(r_c / n_c - r_p / n_p)


def test_two_proportions_uses_fisher_for_small_expected_counts() -> None:
    r = vs.two_proportions(12, 11, 30, 18, 0.95)
    assert r.test == "fisher_exact"
    assert r.p_value == pytest.approx(stats.fisher_exact([[11, 1], [18, 12]]).pvalue)


def test_welch_on_sums_equals_scipy_on_the_raw_absolute_errors() -> None:
    rng = np.random.default_rng(3)
    e_c = rng.normal(0, 1.0, 700)
    e_p = rng.normal(0.1, 1.2, 5000)
    r = vs.welch_abs_error(
        700, float(np.abs(e_c).sum()), float((e_c**2).sum()),
        5000, float(np.abs(e_p).sum()), float((e_p**2).sum()), 0.95,
    )
    oracle = stats.ttest_ind(np.abs(e_p), np.abs(e_c), equal_var=False)
    assert r.p_value == pytest.approx(oracle.pvalue, rel=1e-6)
    ci = oracle.confidence_interval(0.95)
    assert (r.lower, r.upper) == pytest.approx((ci.low, ci.high), rel=1e-6)
    assert r.effect == pytest.approx(np.abs(e_p).mean() - np.abs(e_c).mean())


def test_histogram_bins_keep_every_value_within_the_relative_accuracy() -> None:
    d = np.concatenate([np.geomspace(1e-9, 1e6, 2000), -np.geomspace(1e-9, 1e6, 2000), [0.0]])
    back = vs.hist_value(vs.hist_index(d))
    assert np.all(np.abs(back - d) <= vs.HIST_ACCURACY * np.abs(d) + 1e-12)
    assert np.all(np.sign(back) == np.sign(d))


def test_paired_bootstrap_on_the_histogram_matches_scipy_bootstrap_on_raw_differences() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(0, 1, 3000)
    e_p = np.abs(y - (y + rng.normal(0, 0.6, 3000)))
    e_c = np.abs(y - (y + rng.standard_t(4, 3000) * 0.5))
    d = e_p - e_c
    bins, counts = np.unique(vs.hist_index(d), return_counts=True)
    hist = dict(zip(bins.tolist(), counts.tolist(), strict=True))
    r = vs.paired_bootstrap(len(d), float(d.mean()), hist, 0.95, 4000, seed=1)
    oracle = stats.bootstrap(
        (d,), np.mean, confidence_level=0.95, n_resamples=4000, method="basic",
        random_state=np.random.default_rng(2),
    ).confidence_interval
    width = oracle.high - oracle.low
    assert r.effect == pytest.approx(d.mean())
    assert r.lower == pytest.approx(oracle.low, abs=0.05 * width)
    assert r.upper == pytest.approx(oracle.high, abs=0.05 * width)
    # the p-value agrees with the paired t-test's on a sample this size
    t_p = stats.ttest_1samp(d, 0.0).pvalue
    assert r.p_value == pytest.approx(t_p, abs=0.02)


def test_paired_bootstrap_is_deterministic_and_calls_equal_errors_equal() -> None:
    d = np.zeros(500)
    hist = {0: 500}
    r = vs.paired_bootstrap(len(d), 0.0, hist, 0.99, 1000, seed=7)
    assert r.p_value == 1.0 and r.effect == 0.0
    hist2 = {int(k): 100 for k in vs.hist_index(np.array([-2.0, -1.0, 0.5, 1.0, 2.5]))}
    a = vs.paired_bootstrap(500, 0.1, hist2, 0.99, 1000, seed=7)
    b = vs.paired_bootstrap(500, 0.1, hist2, 0.99, 1000, seed=7)
    assert a == b
