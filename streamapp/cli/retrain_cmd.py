"""``streamapp retrain``: the reference retrainer."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from streamapp.cli.app import app, fail, settings, worker_errors

log = logging.getLogger(__name__)


@app.command()
def retrain(
    ctx: typer.Context,
    max_requests: Annotated[
        int | None, typer.Option(help="Exit after handling this many requests (default: run on).")
    ] = None,
) -> None:
    """Consume retrain requests, train on recent joined outcomes, promote only a better version.

    Needs ``kafka.bootstrap_servers`` (the requests and outcomes live on that
    cluster); thresholds come from ``STREAMAPP_RETRAIN__*``. Serves /metrics and
    /health/{live,ready} on http.host:http.port (ready once its consumers are set
    up). Stops on SIGINT/SIGTERM. Every event (ready, collecting, training progress,
    decision) is an INFO log record with a ``retrain_event`` field.
    """
    from streamapp.http import HealthServer
    from streamapp.metrics.retrain import RetrainMetrics
    from streamapp.retrain.service import RetrainService
    from streamapp.status.heartbeat import Heartbeat

    cfg = settings(ctx)
    if not cfg.kafka.bootstrap_servers:
        raise fail(
            "streamapp retrain needs STREAMAPP_KAFKA__BOOTSTRAP_SERVERS "
            "(the cluster holding the retrain-requests and joined-outcomes topics)"
        )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service = RetrainService(cfg, cfg.kafka.bootstrap_servers, RetrainMetrics())
    http = HealthServer(
        cfg.http.host, cfg.http.port, ready=service.ready_reason, live=service.health.live_reason
    )
    beat = Heartbeat(
        cfg.kafka.librdkafka(), cfg.topics.status, "retrain",
        lambda: {"group": cfg.retrain.group_id, "last_decision": service.last_decision},
        cfg.status.heartbeat_interval_s,
    ).start()  # fmt: skip
    try:
        with worker_errors("retrain"), http:
            log.info("retrainer http on %s", http.url, extra={"url": http.url})
            service.run(stop, max_requests)
    finally:
        beat.stop()
