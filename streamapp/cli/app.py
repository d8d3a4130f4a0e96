"""The root ``streamapp`` command and the shared settings context of its subcommands."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamapp.config import ConfigError, Settings, load_settings
from streamapp.logs import configure_logging, secret_values

app = typer.Typer(
    name="streamapp",
    help="Stream-processing model scoring engine: Kafka in, predictions out, drift and retraining.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML config file.", envvar="STREAMAPP_CONFIG", show_envvar=True
        ),
    ] = None,
) -> None:
    """Load settings once; every subcommand reads them from the context."""
    ctx.obj = config


def settings(ctx: typer.Context) -> Settings:
    """Effective settings for a subcommand; exits with code 2 naming the bad setting."""
    root = ctx.find_root()
    cached = root.meta.get("settings")
    if isinstance(cached, Settings):
        return cached
    try:
        loaded = load_settings(root.obj)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    configure_logging(loaded.log.level, loaded.log.format, secret_values(loaded))
    root.meta["settings"] = loaded
    return loaded


def config_file(ctx: typer.Context) -> str | None:
    """The ``--config`` file as an absolute path, for child processes (``STREAMAPP_CONFIG``)."""
    root = ctx.find_root().obj
    return str(Path(root).resolve()) if root else None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise."""
    console.print(f"[red]error:[/red] {message}")
    sys.stderr.flush()
    return typer.Exit(code)


@contextmanager
def config_errors() -> Iterator[None]:
    """Turn a rejected Kafka credential or certificate into one line and exit code 2."""
    from streamapp.kafka.credentials import KafkaAuthError

    try:
        yield
    except KafkaAuthError as exc:
        raise fail(str(exc), 2) from None
