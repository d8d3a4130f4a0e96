"""What every settings section shares: the error type and the frozen, strict base model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """Settings could not be loaded; the message names every offending setting and the fix."""


class Section(BaseModel):
    """A settings section: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)
