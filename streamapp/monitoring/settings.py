"""Settings of the monitor (``STREAMAPP_MONITORING__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MonitoringSettings(BaseModel):
    """Label join, windows and retraining policy of ``streamapp monitor``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    app_id: str = "streamapp-monitor"
    """faust app id (consumer group and changelog topic prefix)."""
    label_ttl_s: float = Field(default=3600.0, gt=0)
    """How long a logged prediction (or an early label) waits for its partner."""
    max_label_bytes: int = Field(default=16 * 1024, ge=64)
    """Labels larger than this are counted as malformed and dropped."""
