"""``streamapp monitor``: the MONITORING role (label join, rolling accuracy, drift, retraining)."""

from __future__ import annotations

from typing import Annotated

import typer

from streamapp.cli.app import app, config_file, settings, worker_errors
from streamapp.cli.broker_cmd import LocalBroker


@app.command()
def monitor(
    ctx: typer.Context,
    processes: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes in the group (default: monitoring.processes)."),
    ] = None,
    local_broker: LocalBroker = False,
) -> None:
    """Run the monitor until SIGINT/SIGTERM; serves /metrics on http.port.

    Needs kafka.bootstrap_servers (STREAMAPP_KAFKA__BOOTSTRAP_SERVERS) and a writable
    monitoring.state_dir: without either the command exits 2 (--local-broker asks for
    a development broker). The batch join data plane and the faust policy agent run
    in one process. Several workers with the same ``monitoring.app_id`` share the
    partitions and give the same global numbers as one. With several processes
    (process i serves on http.port + i and keeps its state in
    ``monitoring.state_dir/process-i``) a supervisor restarts crashed ones and
    forwards SIGTERM for a last checkpoint.
    """
    from streamapp.monitoring.role import run_monitor
    from streamapp.supervisor import run_supervised

    cfg = settings(ctx)
    if processes:
        cfg = cfg.model_copy(
            update={"monitoring": cfg.monitoring.model_copy(update={"processes": processes})}
        )
    with worker_errors("monitor"):
        if cfg.monitoring.processes > 1:
            code = run_supervised("monitor", cfg, config_file(ctx), local_broker)
        else:
            code = run_monitor(cfg, local_broker=local_broker)
    raise typer.Exit(code)
