"""``streamapp monitor``: the MONITORING role (label join, rolling accuracy, drift, retraining)."""

from __future__ import annotations

import typer

from streamapp.cli.app import app, fail, settings


@app.command()
def monitor(ctx: typer.Context) -> None:
    """Run one monitor worker (faust) until SIGINT/SIGTERM; serves /metrics on http.port.

    Several workers with the same ``monitoring.app_id`` share the work and give
    the same global numbers as one.
    """
    import os

    from streamapp.monitoring.app import RESTARTS_ENV, run_monitor

    cfg = settings(ctx)
    if int(os.environ.get(RESTARTS_ENV, "0")) > cfg.monitoring.startup_restarts:
        raise fail(
            f"monitor never became ready after {cfg.monitoring.startup_restarts} restarts "
            f"({cfg.monitoring.startup_timeout_s:.0f}s each); check the broker and the group",
            code=3,
        )
    run_monitor(cfg)
