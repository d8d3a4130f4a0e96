"""Command-line interface: one ``streamapp`` script, one module per command group."""

from __future__ import annotations

from streamapp.cli import broker_cmd, config_cmd, models_cmd, schemas_cmd  # noqa: F401
from streamapp.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
