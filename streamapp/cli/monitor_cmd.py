"""``streamapp monitor``: the MONITORING role (label join, rolling accuracy, drift, retraining)."""

from __future__ import annotations

import typer

from streamapp.cli.app import app, fail, settings


@app.command()
def monitor(ctx: typer.Context) -> None:
    """Run one monitor worker until SIGINT/SIGTERM; serves /metrics on http.port.

    The batch join data plane and the faust policy agent run in one process.
    Several workers with the same ``monitoring.app_id`` share the partitions and
    give the same global numbers as one.
    """
    from streamapp.monitoring.runner import run_monitor
    from streamapp.monitoring.watchdog import restarts

    cfg = settings(ctx)
    mon = cfg.monitoring
    if restarts() > mon.control_start_restarts:
        raise fail(
            f"monitor control plane never became ready after {mon.control_start_restarts} "
            f"restarts ({mon.control_start_timeout_s:.0f}s each); check the broker and the group",
            code=3,
        )
    run_monitor(cfg)
