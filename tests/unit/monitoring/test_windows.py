"""Rolling metrics equal scikit-learn's on the same window."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from streamapp.monitoring.windows import (
    CountWindow,
    Outcome,
    TimeWindow,
    classification_metrics,
    regression_metrics,
)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 300))
def test_binary_metrics_equal_sklearn(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.round(rng.uniform(0.001, 0.999, n), 2)  # rounding creates ties for the AUC
    y_hat = (score > 0.5).astype(int)
    items = [
        Outcome(float(i), float(a), float(b), float(s))
        for i, (a, b, s) in enumerate(zip(y, y_hat, score, strict=True))
    ]
    got = classification_metrics(items, 2)
    assert got["accuracy"] == skm.accuracy_score(y, y_hat)
    assert got["precision"] == pytest.approx(
        skm.precision_score(y, y_hat, zero_division=0), abs=1e-12
    )
    assert got["recall"] == pytest.approx(skm.recall_score(y, y_hat, zero_division=0), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, y_hat, zero_division=0), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, score, labels=[0, 1]), rel=1e-12)
    if len(set(y.tolist())) == 2:
        assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    else:
        assert math.isnan(got["roc_auc"])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 200))
def test_multiclass_macro_metrics_equal_sklearn(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y, y_hat = rng.integers(0, 4, n), rng.integers(0, 4, n)
    got = classification_metrics(
        [Outcome(0, float(a), float(b)) for a, b in zip(y, y_hat, strict=True)], 4
    )
    kw = {"average": "macro", "labels": [0, 1, 2, 3], "zero_division": 0}
    assert got["accuracy"] == skm.accuracy_score(y, y_hat)
    assert got["precision"] == pytest.approx(skm.precision_score(y, y_hat, **kw), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(y, y_hat, **kw), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, y_hat, **kw), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 200))
def test_regression_metrics_equal_sklearn(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    y, y_hat = rng.uniform(0, 30, n), rng.uniform(0, 30, n)
    got = regression_metrics(
        [Outcome(0, float(a), float(b)) for a, b in zip(y, y_hat, strict=True)]
    )
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, y_hat), rel=1e-12)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, y_hat), rel=1e-12)
    assert got["rmsle"] == pytest.approx(skm.root_mean_squared_log_error(y, y_hat), rel=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(y, y_hat), rel=1e-9)


def test_rmsle_is_nan_for_values_below_minus_one() -> None:
    assert math.isnan(regression_metrics([Outcome(0, -2.0, 1.0), Outcome(0, 1.0, 2.0)])["rmsle"])


def test_count_window_keeps_the_last_n() -> None:
    w = CountWindow(3)
    for i in range(10):
        w.update(Outcome(float(i), float(i), 0.0))
    assert [o.y for o in w.items()] == [7.0, 8.0, 9.0]
    assert w.name == "count:3"


def test_time_window_is_the_event_time_range_even_out_of_order() -> None:
    w = TimeWindow(10)
    for t in [0, 5, 12, 3, 20, 11, 9]:
        w.update(Outcome(float(t), float(t), 0.0))
    assert sorted(o.t for o in w.items()) == [11.0, 12.0, 20.0]
