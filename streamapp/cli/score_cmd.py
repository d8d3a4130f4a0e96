"""``streamapp score``: run a scoring worker until SIGTERM/SIGINT (drains, commits, exits 0)."""

from __future__ import annotations

from typing import Annotated

import typer

from streamapp.cli.app import app, config_errors, fail, settings


@app.command()
def score(
    ctx: typer.Context,
    group_id: Annotated[
        str | None,
        typer.Option(help="Consumer group (default: scoring.group_id)."),
    ] = None,
) -> None:
    """Consume events, score them in adaptive batches, publish predictions (at-least-once).

    Without kafka.bootstrap_servers an embedded broker is started; /metrics and
    /health/{live,ready} are served on http.host:http.port (logged at start).
    """
    from streamapp.kafka.embedded import BrokerError
    from streamapp.scoring.worker import run_worker

    cfg = settings(ctx)
    if group_id:
        cfg = cfg.model_copy(
            update={"scoring": cfg.scoring.model_copy(update={"group_id": group_id})}
        )
    try:
        with config_errors():
            code = run_worker(cfg, install_signals=True)
    except BrokerError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)
