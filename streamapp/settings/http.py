"""The /metrics and /health endpoints (``STREAMAPP_HTTP__*``)."""

from __future__ import annotations

from pydantic import Field

from streamapp.settings.base import Section


class HttpSettings(Section):
    """The /metrics and /health endpoints."""

    host: str = "127.0.0.1"
    """Bind address (loopback by default; 0.0.0.0 in container manifests)."""
    port: int = Field(default=0, ge=0, le=65535)
    """Port; 0 picks a free one (logged at start)."""
