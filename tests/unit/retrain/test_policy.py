from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from streamapp.retrain.policy import Evaluation, Judgement, judge

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
errors = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False)


def test_promotes_a_clearly_better_classifier() -> None:
    decision = judge(Evaluation("accuracy", 0.95, 0.48, 500), 0.01, 100)
    assert decision == Judgement(True, decision.reason)
    assert "better" in decision.reason


def test_rejects_worse_equal_and_marginal_candidates() -> None:
    assert not judge(Evaluation("accuracy", 0.40, 0.95, 500), 0.0, 100).promote
    assert not judge(Evaluation("accuracy", 0.95, 0.95, 500), 0.0, 100).promote
    assert not judge(Evaluation("accuracy", 0.955, 0.95, 500), 0.01, 100).promote


def test_rejects_on_too_few_held_out_outcomes() -> None:
    decision = judge(Evaluation("accuracy", 0.99, 0.10, 99), 0.01, 100)
    assert not decision.promote
    assert "99" in decision.reason


def test_rejects_non_finite_scores() -> None:
    assert not judge(Evaluation("accuracy", math.nan, 0.5, 500), 0.0, 1).promote
    assert not judge(Evaluation("rmse", 1.0, math.inf, 500, False, True), 0.0, 1).promote


def test_regression_uses_relative_error_reduction() -> None:
    better = Evaluation("rmse", 1.0, 2.0, 500, higher_is_better=False, relative=True)
    assert better.gain == 0.5
    assert judge(better, 0.1, 100).promote
    worse = Evaluation("rmse", 2.5, 2.0, 500, higher_is_better=False, relative=True)
    assert not judge(worse, 0.0, 100).promote


@given(
    candidate=scores, serving=scores, min_improvement=st.floats(0.0, 0.5), n=st.integers(0, 10**6)
)
def test_never_promotes_a_classifier_that_is_not_better(
    candidate: float, serving: float, min_improvement: float, n: int
) -> None:
    decision = judge(Evaluation("accuracy", candidate, serving, n), min_improvement, 50)
    if decision.promote:
        assert candidate > serving
        assert candidate - serving >= min_improvement - 1e-9
        assert n >= 50
    if candidate <= serving:
        assert not decision.promote


@given(candidate=errors, serving=errors, min_improvement=st.floats(0.0, 0.5))
def test_never_promotes_a_regressor_with_higher_error(
    candidate: float, serving: float, min_improvement: float
) -> None:
    ev = Evaluation("rmse", candidate, serving, 1000, higher_is_better=False, relative=True)
    decision = judge(ev, min_improvement, 1)
    if candidate >= serving:
        assert not decision.promote
    if decision.promote:
        assert candidate < serving
