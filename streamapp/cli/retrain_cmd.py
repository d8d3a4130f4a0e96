"""``streamapp retrain``: the reference retrainer, on its own or as part of the demo."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from streamapp.cli.app import app, fail, settings, worker_errors

DECISIONS = ("promoted", "rejected", "failed", "skipped", "duplicate")
"""Retrain events that end a request: the last one is shown by ``streamapp status``."""


@app.command()
def retrain(
    ctx: typer.Context,
    events_file: Annotated[
        Path | None,
        typer.Option(help="Append every retrain event as a JSON line here (the demo reads it)."),
    ] = None,
    max_requests: Annotated[
        int | None, typer.Option(help="Exit after handling this many requests (default: run on).")
    ] = None,
) -> None:
    """Consume retrain requests, train on recent joined outcomes, promote only a better version.

    Needs ``kafka.bootstrap_servers`` (the requests and outcomes live on that
    cluster); thresholds come from ``STREAMAPP_RETRAIN__*``. Stops on SIGINT/SIGTERM.
    """
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
    lock = threading.Lock()
    last: dict[str, Any] = {}

    def on_event(kind: str, fields: dict[str, Any]) -> None:
        record = {"ts": datetime.now(UTC).isoformat(), "event": kind, **fields}
        if kind in DECISIONS:
            last["decision"] = record
        if events_file is None:
            return
        with lock, events_file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")

    service = RetrainService(cfg, cfg.kafka.bootstrap_servers, on_event)
    beat = Heartbeat(
        cfg.kafka.librdkafka(), cfg.topics.status, "retrain",
        lambda: {"group": cfg.retrain.group_id, "last_decision": last.get("decision")},
        cfg.status.heartbeat_interval_s,
    ).start()
    try:
        with worker_errors("retrain"):
            service.run(stop, max_requests)
    finally:
        beat.stop()
