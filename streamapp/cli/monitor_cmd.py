"""``streamapp monitor``: the MONITORING role (label join, rolling accuracy, drift, retraining)."""

from __future__ import annotations

import typer

from streamapp.cli.app import app, settings, worker_errors


@app.command()
def monitor(ctx: typer.Context) -> None:
    """Run one monitor worker until SIGINT/SIGTERM; serves /metrics on http.port.

    The batch join data plane and the faust policy agent run in one process.
    Several workers with the same ``monitoring.app_id`` share the partitions and
    give the same global numbers as one.
    """
    from streamapp.monitoring.runner import run_monitor

    cfg = settings(ctx)
    with worker_errors("monitor"):
        run_monitor(cfg)
