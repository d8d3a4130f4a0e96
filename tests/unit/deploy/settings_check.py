"""Helpers: is a ``STREAMAPP_*`` name a real setting, is an argv a real CLI command."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import typer.main
from pydantic import BaseModel

import streamapp.cli  # noqa: F401 - registers every subcommand on the app
from streamapp.cli.app import app
from streamapp.config import ENV_PREFIX, Settings, load_settings


def is_setting(env_name: str) -> bool:
    """True when ``STREAMAPP_A__B__C`` names a field path of :class:`Settings`.

    >>> is_setting("STREAMAPP_KAFKA__BOOTSTRAP_SERVERS"), is_setting("STREAMAPP_KAFKA__NOPE")
    (True, False)
    """
    if not env_name.startswith(ENV_PREFIX):
        return False
    model: type[BaseModel] | None = Settings
    parts = env_name[len(ENV_PREFIX) :].lower().split("__")
    for i, part in enumerate(parts):
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        nested = annotation if isinstance(annotation, type) else None
        is_model = nested is not None and issubclass(nested, BaseModel)
        if i < len(parts) - 1 and not is_model:
            return False
        model = nested if is_model else None
    return True


@contextmanager
def only_env(env: Mapping[str, str]) -> Iterator[None]:
    """Run with exactly these ``STREAMAPP_*`` variables (others removed), restoring after."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    for key in saved:
        del os.environ[key]
    os.environ.update(env)
    try:
        yield
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Load settings exactly as the CLI would with ``env`` (raises ConfigError when invalid)."""
    with only_env(env):
        return load_settings()


def is_cli_command(argv: list[str]) -> bool:
    """True when ``argv`` (e.g. ``["topics", "create"]``) resolves to a leaf CLI command.

    Words after the leaf command (its arguments and options) are not checked.
    """
    command: Any = typer.main.get_command(app)
    for word in argv:
        subcommands = getattr(command, "commands", None)  # a group (typer vendors click)
        if word.startswith("-") or subcommands is None:
            break
        if word not in subcommands:
            return False
        command = subcommands[word]
    return getattr(command, "commands", None) is None
