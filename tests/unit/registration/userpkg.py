"""A user's pre processor: one-hot 'plan', standardise the numbers (vectorised)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

PLANS = ["basic", "plus", "pro"]


def encode(columns: Mapping[str, npt.NDArray[np.generic]]) -> npt.NDArray[np.float32]:
    usage = np.asarray(columns["usage"], dtype=np.float64)
    tenure = np.asarray(columns["tenure"], dtype=np.float64)
    plan = np.asarray(columns["plan"]).astype(str)
    onehot = [(plan == p).astype(np.float64) for p in PLANS]
    return np.column_stack([(usage - 50.0) / 20.0, np.log1p(tenure), *onehot]).astype(np.float32)


Data = tuple[dict[str, npt.NDArray[np.generic]], npt.NDArray[np.str_]]


def churn_data(n: int, seed: int = 0) -> Data:
    """Synthetic churn data: usage, tenure, plan -> 'stay' / 'churn'."""
    rng = np.random.default_rng(seed)
    usage = rng.normal(50, 20, n).clip(0, None)
    tenure = rng.integers(0, 60, n)
    plan = rng.choice(PLANS, n)
    logit = 0.05 * (50 - usage) - 0.04 * tenure + (plan == "basic") * 1.0
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "churn", "stay")
    return {"usage": usage, "tenure": tenure, "plan": plan}, y
