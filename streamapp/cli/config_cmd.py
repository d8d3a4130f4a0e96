"""``streamapp config show``: the effective configuration, secrets masked."""

from __future__ import annotations

import json

import typer

from streamapp.cli.app import app, settings
from streamapp.config import masked_dump

config_app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective configuration as JSON (passwords shown as **********)."""
    typer.echo(json.dumps(masked_dump(settings(ctx)), indent=2, default=str))
