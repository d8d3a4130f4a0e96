"""``streamapp demo``: the whole loop in one command, on a local broker with ``--local-broker``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamapp.cli.app import EXIT_CONFIG, app, config_file, fail, settings
from streamapp.cli.broker_cmd import LocalBroker


@app.command()
def demo(
    ctx: typer.Context,
    duration: Annotated[float, typer.Option(help="Traffic length in seconds.", min=10)] = 180.0,
    rate: Annotated[float, typer.Option(help="Events per second.", min=1)] = 150.0,
    seed: Annotated[int, typer.Option(help="Traffic seed (same seed, same events).")] = 1,
    out: Annotated[Path, typer.Option(help="Report folder (plots, summary, logs).")] = Path(
        "demo-out"
    ),
    drift_at: Annotated[
        float | None, typer.Option(help="Drift point in seconds (default: duration / 3).")
    ] = None,
    recovery: Annotated[
        float, typer.Option(help="Accuracy the new version must reach for exit code 0.")
    ] = 0.85,
    local_broker: LocalBroker = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="Events, labels and predictions as json (streamapp's envelope) or avro (the "
            "Confluent wire format through schema_registry.url, else a local Apicurio "
            "Registry: scripts/install-apicurio.sh, Java 21+).",
        ),
    ] = "json",
) -> None:
    """Events scored, labels joined, drift detected, a new version trained, shadowed, promoted.

    Runs on kafka.bootstrap_servers, or on a local development broker started for
    the run with --local-broker (./scripts/demo.sh passes it); starts the
    scorer, monitor and retrainer as separate processes, and a traffic generator
    with a concept drift at a known point. The retrained version is scored in
    shadow; the monitor's verdict on labels promotes it. Shows a live view, writes plots and a
    summary into OUT, and exits 0 only if the loop closed. Ctrl-C / SIGTERM stop
    everything cleanly and still write the report. --format avro exits 2 at once when
    no registry is configured and no local one can start (no Apicurio, no Java 21+).
    """
    try:
        from streamapp.demo.prepare import DemoOptions
        from streamapp.demo.runner import run_demo
    except ModuleNotFoundError as exc:
        raise fail(
            f"streamapp demo needs the demo extra ({exc.name} is missing): "
            "pip install 'streamapp[demo]', or run ./scripts/demo.sh",
            2,
        ) from None

    from streamapp.host import StartupError, require_cluster

    cfg = settings(ctx)
    try:
        require_cluster(cfg, "demo", local_broker)
    except StartupError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    if drift_at is not None and not 0 < drift_at < duration:
        raise typer.BadParameter("--drift-at must be inside (0, duration)")
    _check_format(fmt, cfg.schema_registry.url)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    options = DemoOptions(
        duration_s=duration,
        rate=rate,
        seed=seed,
        out=out,
        drift_at_s=drift_at,
        recovery_threshold=recovery,
        config_file=config_file(ctx),
        format=fmt,
    )
    result = run_demo(cfg, options, Console(), stop, local_broker)
    raise typer.Exit(0 if result.verdict.closed else 1)


def _check_format(fmt: str, registry_url: str | None) -> None:
    """Refuse an unknown ``--format``, and ``avro`` without a configured registry when a local
    Apicurio Registry cannot start: exit 2, one line naming the fix."""
    from streamapp.demo.wire import FORMATS

    if fmt not in FORMATS:
        raise fail(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}", EXIT_CONFIG)
    if fmt == "json" or registry_url:
        return
    from streamapp.brokers import BrokerError
    from streamapp.brokers.schema_registry import find_apicurio, find_java21

    try:
        find_apicurio()
        find_java21()
    except BrokerError as exc:
        raise fail(f"--format {fmt}: {exc}", EXIT_CONFIG) from None
