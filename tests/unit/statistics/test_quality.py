"""Metrics from mergeable stats equal scikit-learn's on the same outcomes; windows by bucket."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from streamapp.monitoring.control.windows import Buckets, joined
from streamapp.statistics import quality
from streamapp.statistics.spec import SCORE_BINS
from streamapp.statistics.summary import Stats, fixed


def _binary(y: np.ndarray, y_hat: np.ndarray, score: np.ndarray) -> Stats:
    s = Stats(joined=len(y), confusion=np.bincount(y * 2 + y_hat, minlength=4).tolist())
    bins = np.clip((score * SCORE_BINS).astype(int), 0, SCORE_BINS - 1)
    for target, cls in ((s.score_pos, 1), (s.score_neg, 0)):
        for b in bins[y == cls].tolist():
            target[str(b)] = target.get(str(b), 0) + 1
    eps = float(np.finfo(np.float64).eps)
    c = np.clip(score, eps, 1 - eps)
    s.log_loss = fixed((-(y * np.log(c) + (1 - y) * np.log(1 - c))).tolist())
    s.scored = len(y)
    return s


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 300))
def test_binary_metrics_equal_sklearn(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = (rng.integers(0, SCORE_BINS, n) + 0.5) / SCORE_BINS  # on the histogram grid
    y_hat = (score > 0.5).astype(int)
    got = quality.classification(_binary(y, y_hat, score), 2)
    assert got["accuracy"] == skm.accuracy_score(y, y_hat)
    assert got["precision"] == pytest.approx(
        skm.precision_score(y, y_hat, zero_division=0), abs=1e-12
    )
    assert got["recall"] == pytest.approx(skm.recall_score(y, y_hat, zero_division=0), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, y_hat, zero_division=0), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, score, labels=[0, 1]), rel=1e-9)
    if len(set(y.tolist())) == 2:
        assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    else:
        assert math.isnan(got["roc_auc"])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 200))
def test_multiclass_macro_metrics_equal_sklearn(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y, y_hat = rng.integers(0, 4, n), rng.integers(0, 4, n)
    s = Stats(joined=n, confusion=np.bincount(y * 4 + y_hat, minlength=16).tolist())
    got = quality.classification(s, 4)
    kw = {"average": "macro", "labels": [0, 1, 2, 3], "zero_division": 0}
    assert got["accuracy"] == skm.accuracy_score(y, y_hat)
    assert got["precision"] == pytest.approx(skm.precision_score(y, y_hat, **kw), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(y, y_hat, **kw), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, y_hat, **kw), abs=1e-12)


def _regression(y: np.ndarray, p: np.ndarray) -> Stats:
    err = y - p
    valid = (y > -1) & (p > -1)
    return Stats(joined=len(y), sums={
        "n": len(y), "abs": fixed(np.abs(err).tolist()), "sq": fixed((err**2).tolist()),
        "y": fixed(y.tolist()), "y2": fixed((y**2).tolist()),
        "sle": fixed(((np.log1p(y[valid]) - np.log1p(p[valid])) ** 2).tolist()),
        "sle_invalid": int((~valid).sum()),
    })


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 200))
def test_regression_metrics_equal_sklearn(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y, y_hat = rng.uniform(0, 30, n), rng.uniform(0, 30, n)
    got = quality.regression(_regression(y, y_hat))
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, y_hat), rel=1e-9)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, y_hat), rel=1e-9)
    assert got["rmsle"] == pytest.approx(skm.root_mean_squared_log_error(y, y_hat), rel=1e-9)
    # per-value rounding to 2^-40 bounds the error of a nearly constant target's R²
    assert got["r2"] == pytest.approx(skm.r2_score(y, y_hat), rel=1e-6)


def test_rmsle_is_nan_for_values_below_minus_one() -> None:
    got = quality.regression(_regression(np.array([-2.0, 1.0]), np.array([1.0, 2.0])))
    assert math.isnan(got["rmsle"])


def test_count_and_time_windows_are_whole_event_time_buckets() -> None:
    b = Buckets(10.0)
    for bucket in [5, 1, 3, 2, 4]:  # any arrival order
        b.add(bucket, Stats(joined=100))
    b.add(5, Stats(joined=50))
    assert b.count_window(200, joined) == (Stats(joined=250), True)  # buckets 5 and 4
    assert b.count_window(200, joined, skip=1) == (Stats(joined=200), True)  # 3 and 2
    assert b.count_window(200, joined, skip=2) == (Stats(joined=100), False)
    assert b.time_window(30.0).joined == 350  # buckets 3..5
    b.prune(keep_seconds=20.0, keep_joined=400, keep_logged=0)
    assert sorted(b.items) == [2, 3, 4, 5]
