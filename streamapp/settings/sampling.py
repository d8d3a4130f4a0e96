"""Sampling, holdout and candidate routing (``STREAMAPP_SAMPLING__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from streamapp.settings.base import Section


class SamplingSettings(Section):
    """Deterministic (event-id hashed) sampling, holdout and candidate routing."""

    log_rate: float = Field(default=0.2, ge=0.0, le=1.0)
    """Share of predictions written to the prediction-log topic."""
    log_inputs: bool = False
    """A tensor model's log records also carry the event's raw ``features`` (tensors, text,
    bytes) as ``inputs``; by default they carry only the monitored sketches."""
    holdout_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    """Share of events marked ``holdout=true``."""
    publish_holdout: bool = True
    """Whether holdout predictions are published to the predictions topic."""
    candidate_mode: Literal["off", "canary", "shadow"] = "off"
    """How the candidate version takes part: canary publishes, shadow only logs."""
    canary_share: float = Field(default=0.1, ge=0.0, le=1.0)
    """Share of events routed to the candidate in canary mode."""
