"""The promotion rule: a pure function, so "never promotes a worse model" is unit-tested.

A candidate is promoted only when it was evaluated on enough held-out
outcomes, both scores are finite, and it beats the serving version by at least
``min_improvement`` — strictly better, even when ``min_improvement`` is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Evaluation:
    """Candidate and serving version scored on the same held-out slice."""

    metric: str
    candidate: float
    serving: float
    n_eval: int
    higher_is_better: bool = True
    relative: bool = False
    """Measure the gain relative to the serving score (error metrics such as RMSE)."""

    @property
    def gain(self) -> float:
        """Improvement of the candidate over the serving version (positive = better).

        >>> Evaluation("accuracy", 0.9, 0.5, 500).gain
        0.4
        >>> Evaluation("rmse", 1.0, 2.0, 500, higher_is_better=False, relative=True).gain
        0.5
        """
        diff = self.candidate - self.serving
        if not self.higher_is_better:
            diff = -diff
        if self.relative:
            return diff / abs(self.serving) if self.serving else (math.inf if diff > 0 else 0.0)
        return round(diff, 12)


@dataclass(frozen=True)
class Judgement:
    """Whether to promote, and a one-line reason for logs and the report."""

    promote: bool
    reason: str


def judge(evaluation: Evaluation, min_improvement: float, min_eval_samples: int) -> Judgement:
    """Promote only a candidate that is measurably better than the serving version.

    >>> judge(Evaluation("accuracy", 0.95, 0.48, 400), 0.01, 100).promote
    True
    >>> judge(Evaluation("accuracy", 0.48, 0.95, 400), 0.0, 100).promote
    False
    """
    ev = evaluation
    if ev.n_eval < min_eval_samples:
        return Judgement(False, f"only {ev.n_eval} held-out outcomes (< {min_eval_samples})")
    if not (math.isfinite(ev.candidate) and math.isfinite(ev.serving)):
        return Judgement(
            False, f"non-finite {ev.metric}: candidate {ev.candidate}, serving {ev.serving}"
        )
    gain = ev.gain
    summary = f"{ev.metric} candidate {ev.candidate:.4f} vs serving {ev.serving:.4f} on {ev.n_eval}"
    if gain <= 0 or gain < min_improvement:
        return Judgement(
            False, f"not better enough: {summary} (gain {gain:.4f} < {min_improvement})"
        )
    return Judgement(True, f"better: {summary} (gain {gain:.4f})")
