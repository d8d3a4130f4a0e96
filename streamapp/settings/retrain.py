"""Settings of the reference retrainer (``STREAMAPP_RETRAIN__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RetrainSettings(BaseModel):
    """How ``streamapp retrain`` gathers data, trains, evaluates and promotes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_id: str = "streamapp-retrainer"
    """Consumer group of the retrain-requests consumer (offsets committed after handling)."""
    min_samples: int = Field(default=1500, ge=20)
    """Joined outcomes (from ``requested_at - lookback_s`` on) needed before training starts."""
    max_samples: int = Field(default=20_000, ge=20)
    """Most recent outcomes used at most (memory bound of the outcome buffer too)."""
    lookback_s: float = Field(default=0.0, ge=0)
    """Outcomes this long before the request also count (0: only data after the incident)."""
    max_wait_s: float = Field(default=900.0, gt=0)
    """Give up on a request (logged as skipped) when the data did not arrive in time."""
    eval_share: float = Field(default=0.25, gt=0, lt=1)
    """Held-out share (deterministic by event id) for the candidate-vs-serving comparison."""
    min_eval_samples: int = Field(default=100, ge=1)
    """No promotion on fewer held-out outcomes than this."""
    min_improvement: float = Field(default=0.01, ge=0)
    """Required gain: accuracy points (classification) or relative RMSE reduction (regression)."""
    promote_to: Literal["production", "candidate"] = "production"
    """Pointer moved on success: directly to production, or candidate for a canary share."""
    promotion_actor: Literal["operator", "retrainer"] = "operator"
    """Who acts on the monitor's promotion decisions (canary / shadow verdicts): ``retrainer``
    moves the production pointer to a promoted candidate and clears the candidate pointer on
    promote and roll back; ``operator`` leaves both to ``streamapp models promote``."""
    epochs: int = Field(default=40, ge=1)
    """Training epochs."""
    seed: int = 0
    """Training seed (same data + seed = same weights)."""
