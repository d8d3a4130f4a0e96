"""``streamapp retrain``: the reference retrainer."""

from __future__ import annotations

from typing import Annotated

import typer

from streamapp.cli.app import app, settings, worker_errors
from streamapp.cli.broker_cmd import LocalBroker


@app.command()
def retrain(
    ctx: typer.Context,
    max_requests: Annotated[
        int | None, typer.Option(help="Exit after handling this many requests (default: run on).")
    ] = None,
    local_broker: LocalBroker = False,
) -> None:
    """Consume retrain requests, train on recent joined outcomes, promote only a better version.

    Needs kafka.bootstrap_servers (STREAMAPP_KAFKA__BOOTSTRAP_SERVERS: the cluster
    holding the retrain-requests and joined-outcomes topics): without it the command
    exits 2, unless --local-broker asks for a development broker. Thresholds come
    from ``STREAMAPP_RETRAIN__*``. Serves /metrics and /health/{live,ready} on
    http.host:http.port (ready once its consumers are set up). Stops on
    SIGINT/SIGTERM. Every event (ready, collecting, training progress, decision) is
    an INFO log record with a ``retrain_event`` field.
    """
    from streamapp.retrain.role import run_retrainer

    cfg = settings(ctx)
    with worker_errors("retrain"):
        code = run_retrainer(cfg, max_requests, local_broker=local_broker)
    raise typer.Exit(code)
