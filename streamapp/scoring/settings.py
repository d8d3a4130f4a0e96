"""Settings of the scoring worker (``STREAMAPP_SCORING__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ScoringSettings(BaseModel):
    """Batching, backpressure and consumer settings of ``streamapp score``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_id: str = "streamapp-scoring"
    """Consumer group shared by all scoring workers."""
    max_batch_size: int = Field(default=512, ge=1)
    """Largest micro-batch handed to a scorer."""
    max_wait_ms: float = Field(default=20.0, ge=0)
    """Longest an event waits for its batch to fill."""
    max_event_bytes: int = Field(default=64 * 1024, ge=64)
    """Events larger than this go to the dead-letter topic as too_large."""
