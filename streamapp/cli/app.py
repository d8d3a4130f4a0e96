"""The root ``streamapp`` command and the shared settings context of its subcommands."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from streamapp.config import ConfigError, Settings, load_settings
from streamapp.logs import configure_logging, json_logging, secret_values

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
        loaded = load_settings(root.obj, check_files=True)
    except ConfigError as exc:
        configure_logging(fmt=_startup_log_format())
        raise fail(str(exc), EXIT_CONFIG, label="configuration error") from None
    configure_logging(
        loaded.log.level, loaded.log.format, secret_values(loaded), loaded.log.repeat_interval_s
    )
    root.meta["settings"] = loaded
    return loaded


def _startup_log_format() -> str:
    """The log format for an error before settings exist: ``STREAMAPP_LOG__FORMAT`` when it
    is valid, else auto (JSON unless stderr is a terminal), as the settings would pick."""
    fmt = os.environ.get("STREAMAPP_LOG__FORMAT", "auto").lower()
    return fmt if fmt in ("auto", "json", "text") else "auto"


def config_file(ctx: typer.Context) -> str | None:
    """The ``--config`` file as an absolute path, for child processes (``STREAMAPP_CONFIG``)."""
    root = ctx.find_root().obj
    return str(Path(root).resolve()) if root else None
EXIT_FAILED = 1
"""The command ran and failed (e.g. records not acknowledged, a topic that does not exist)."""
EXIT_CONFIG = 2
"""A configuration error: a bad setting, rejected credentials, a missing model pointer."""
EXIT_UNREACHABLE = 3
"""The Kafka cluster did not answer within ``kafka.connect_timeout_s``."""


def fail(message: str, code: int = 1, label: str = "error") -> typer.Exit:
    """Report an error as one line on stderr (a JSON record in JSON log mode, never wrapped)
    starting with ``label``; the Exit to raise."""
    if json_logging():
        text = message if label == "error" else f"{label}: {message}"
        logging.getLogger("streamapp.cli").error(text, extra={"exit_code": code})
    else:
        console.print(f"[red]{label}:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    sys.stderr.flush()
    return typer.Exit(code)


def warn(message: str) -> None:
    """Report a warning as one line on stderr (a JSON record in JSON log mode, never wrapped)."""
    if json_logging():
        logging.getLogger("streamapp.cli").warning(message)
    else:
        console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True,
                      highlight=False)
    sys.stderr.flush()


@contextmanager
def config_errors() -> Iterator[None]:
    """Turn a rejected Kafka credential or certificate into one line and exit code 2."""
    from streamapp.kafka.credentials import KafkaAuthError

    try:
        yield
    except KafkaAuthError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None


def reach_cluster(cfg: Settings, servers: str) -> None:
    """One-shot commands: the cluster answers within ``kafka.connect_timeout_s`` or the
    command exits 3 with one line naming the setting (2 for rejected credentials)."""
    from streamapp.kafka.credentials import unreachable_reason
    from streamapp.kafka.health import SERVERS_HINT

    with config_errors():
        reason = unreachable_reason(cfg.kafka.librdkafka(servers), cfg.kafka.connect_timeout_s)
    if reason is not None:
        raise fail(
            f"Kafka unreachable at {servers} within {cfg.kafka.connect_timeout_s:.0f}s "
            f"({reason}); {SERVERS_HINT}",
            EXIT_UNREACHABLE,
        )


@contextmanager
def kafka_errors() -> Iterator[None]:
    """One-shot commands: a Kafka client error after the first contact is one line, exit 1."""
    from confluent_kafka import KafkaException

    with config_errors():
        try:
            yield
        except KafkaException as exc:
            err = exc.args[0] if exc.args else exc
            text = err.str() if hasattr(err, "str") else str(err)
            raise fail(f"Kafka request failed: {text}", EXIT_FAILED) from None


@contextmanager
def worker_errors(role: str) -> Iterator[None]:
    """Long-running commands: a start-up error (no cluster, an unusable state directory),
    rejected credentials or an unusable http port exit 2 with one line; a local broker that
    cannot start exits 1 with one line; any other error is logged (one JSON record in JSON
    mode, never a bare traceback) and exits 1 so the orchestrator restarts the process."""
    from streamapp.brokers import BrokerError
    from streamapp.host import StartupError
    from streamapp.http import HttpBindError
    from streamapp.kafka.credentials import KafkaAuthError

    try:
        yield
    except (typer.Exit, SystemExit, KeyboardInterrupt):
        raise
    except (StartupError, KafkaAuthError) as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    except BrokerError as exc:
        raise fail(str(exc), EXIT_FAILED) from None
    except HttpBindError as exc:
        raise fail(str(exc.strerror), EXIT_CONFIG) from None
    except Exception as exc:
        logging.getLogger(f"streamapp.{role}").exception("%s stopped: %s", role, exc)
        raise typer.Exit(EXIT_FAILED) from None
