"""Logging (``STREAMAPP_LOG__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from streamapp.settings.base import Section


class LogSettings(Section):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Root log level."""
    format: Literal["auto", "json", "text"] = "auto"
    """json for machines, text for terminals; auto picks text on a TTY."""
    repeat_interval_s: float = Field(default=30.0, ge=0)
    """Kafka client warnings of one kind are logged at most once per this many seconds
    (with a count of those left out)."""
