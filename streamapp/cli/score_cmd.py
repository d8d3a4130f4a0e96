"""``streamapp score``: run a scoring worker until SIGTERM/SIGINT (drains, commits, exits 0)."""

from __future__ import annotations

from typing import Annotated

import typer

from streamapp.cli.app import EXIT_CONFIG, app, config_file, fail, settings, worker_errors
from streamapp.cli.broker_cmd import LocalBroker


@app.command()
def score(
    ctx: typer.Context,
    group_id: Annotated[
        str | None,
        typer.Option(help="Consumer group (default: scoring.group_id)."),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes in the group (default: scoring.processes, "
                     "one per core)."),
    ] = None,
    local_broker: LocalBroker = False,
) -> None:
    """Consume events, score them in adaptive batches, publish predictions (at-least-once).

    Needs kafka.bootstrap_servers (STREAMAPP_KAFKA__BOOTSTRAP_SERVERS): without it the
    command exits 2, unless --local-broker asks for a development broker. /metrics and
    /health/{live,ready} are served on http.host:http.port (logged at start; with
    several processes, process i serves on http.port + i). Above one process a
    supervisor restarts crashed ones and forwards SIGTERM for a clean drain.
    """
    from streamapp.host import StartupError, require_cluster, require_registry
    from streamapp.registry.registry import MissingPointerError, ModelRegistry
    from streamapp.scoring.worker import run_worker
    from streamapp.supervisor import run_supervised

    cfg = settings(ctx)
    try:  # configuration errors: fail before any process or broker starts
        require_cluster(cfg, "score", local_broker)
        require_registry(cfg)
        ModelRegistry(cfg.model.registry).resolve(cfg.model.name, cfg.model.pointer)
    except (StartupError, MissingPointerError) as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    update = {k: v for k, v in (("group_id", group_id), ("processes", processes)) if v}
    if update:
        cfg = cfg.model_copy(update={"scoring": cfg.scoring.model_copy(update=update)})
    config = config_file(ctx)
    with worker_errors("score"):
        if cfg.scoring.processes > 1:
            code = run_supervised("score", cfg, config, local_broker)
        else:
            code = run_worker(cfg, install_signals=True, local_broker=local_broker)
    raise typer.Exit(code)
