"""Command-line interface: one ``streamapp`` script, one module per command group."""

from __future__ import annotations

from streamapp.cli import (  # noqa: F401 - each module registers its commands
    broker_cmd,
    config_cmd,
    demo_cmd,
    io_cmd,
    models_cmd,
    monitor_cmd,
    produce_cmd,
    register_cmd,
    retrain_cmd,
    schemas_cmd,
    score_cmd,
    status_cmd,
)
from streamapp.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
