"""Worker heartbeats (``STREAMAPP_STATUS__*``)."""

from __future__ import annotations

from pydantic import Field

from streamapp.settings.base import Section


class StatusSettings(Section):
    """Worker heartbeats on ``topics.status`` (what ``streamapp status`` shows)."""

    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    """Every long-running worker publishes its state this often; ``status`` calls a worker
    stale after three missed heartbeats."""
