"""Drift statistics equal a direct numpy / scipy computation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, ks_2samp

from streamapp.statistics import binning as stats

floats = st.floats(-1e4, 1e4, allow_nan=False)


def _oracle_counts(edges: list[float], x: np.ndarray) -> np.ndarray:
    bounds = [-np.inf, *edges, np.inf]
    return np.array([((x > lo) & (x <= hi)).sum() for lo, hi in itertools.pairwise(bounds)])


@given(
    st.lists(floats, min_size=1, max_size=200),
    st.lists(floats, min_size=1, max_size=9, unique=True),
)
def test_bin_index_matches_right_closed_bins(values: list[float], edges: list[float]) -> None:
    """Right-closed bins of the values as the model sees them (float32)."""
    edges = sorted(edges)
    x = np.asarray(values)
    counts = np.bincount(stats.bin_index(edges, x), minlength=len(edges) + 1)
    seen = x.astype(np.float32).astype(np.float64)
    assert counts.tolist() == _oracle_counts(edges, seen).tolist()


@given(st.lists(st.decimals(-1000, 1000, places=2).map(float), min_size=1, max_size=200))
def test_a_decimal_and_its_float32_share_a_bin(values: list[float]) -> None:
    """The producer's 0.7 and the reference's float32(0.7) land in one bin, whatever the
    edges (even an edge on the float32 value itself)."""
    x = np.asarray(values)
    edges = np.unique(x.astype(np.float32).astype(np.float64))
    assert stats.bin_index(edges, x).tolist() == stats.bin_index(edges, x.astype(np.float32)
                                                                 ).tolist()


@given(
    st.lists(st.integers(0, 50), min_size=10, max_size=10),
    st.lists(st.floats(0.0, 1.0), min_size=10, max_size=10),
)
def test_psi_js_chi2_match_numpy_scipy(counts: list[int], weights: list[float]) -> None:
    if sum(counts) == 0 or sum(weights) == 0:
        return
    expected = np.asarray(weights) / sum(weights)
    e = np.clip(expected, stats.EPS, None)
    e = e / e.sum()
    a = np.clip(np.asarray(counts) / sum(counts), stats.EPS, None)
    a = a / a.sum()
    assert np.isclose(
        stats.psi(expected, counts), np.sum((a - e) * np.log(a / e)), rtol=1e-9, atol=1e-12
    )
    assert np.isclose(stats.js_distance(expected, counts), jensenshannon(e, a, base=2), atol=1e-9)
    oracle = chisquare(np.asarray(counts, dtype=float), e * sum(counts)).statistic
    assert np.isclose(stats.chi_square(expected, counts), oracle, rtol=1e-9)


@settings(max_examples=200)
@given(
    st.lists(st.integers(-20, 20).map(float), min_size=1, max_size=300),
    st.lists(floats, min_size=1, max_size=101),
)
def test_ks_matches_scipy_with_ties(sample: list[float], reference: list[float]) -> None:
    assert np.isclose(stats.ks_statistic(sample, reference), ks_2samp(sample, reference).statistic)


def test_psi_of_a_shifted_sample_is_large_and_of_the_same_is_small() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=20_000)
    edges = list(np.quantile(ref, np.linspace(0, 1, 11)[1:-1]))
    props = np.full(10, 0.1)
    same = np.bincount(stats.bin_index(edges, rng.normal(size=2000)), minlength=10)
    moved = np.bincount(stats.bin_index(edges, rng.normal(1.0, size=2000)), minlength=10)
    assert stats.psi(props, same) < 0.05 < 0.25 < stats.psi(props, moved)


def test_ks_binned_is_the_cdf_distance_at_the_bin_edges() -> None:
    rng = np.random.default_rng(3)
    expected = rng.dirichlet(np.ones(8))
    counts = rng.integers(0, 50, 8)
    direct = np.max(np.abs(np.cumsum(counts) / counts.sum() - np.cumsum(expected)))
    assert stats.ks_binned(expected, counts) == pytest.approx(direct, abs=1e-12)
