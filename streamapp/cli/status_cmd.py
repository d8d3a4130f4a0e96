"""``streamapp status`` (what runs, how far behind, how well) and ``streamapp incidents``.

Both are one-shot: the cluster must answer within ``kafka.connect_timeout_s``
(exit 3 otherwise), a failed request is one line and exit 1.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from streamapp.cli.app import app, fail, kafka_errors, settings
from streamapp.cli.io_cmd import cluster_conf
from streamapp.cli.output import JsonOpt, emit

incidents_app = typer.Typer(help="Acknowledge incidents, re-baseline a version.",
                            no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")

WORKER_COLUMNS = ("worker", "role", "model", "version", "candidate", "group", "ready",
                  "consumed_per_s", "dead_letter_per_s", "started_at", "age_s", "stale")
MODEL_COLUMNS = ("model", "version", "variant", "workers", "consumed_per_s",
                 "predictions_per_s", "dead_letter_per_s", "accuracy", "rmse", "max_psi",
                 "max_psi_feature", "incident_open")
STORE_COLUMNS = ("worker", "partition", "health", "source", "discarded", "seq", "opened_at")
LAG_COLUMNS = ("group", "topic", "partition", "committed", "end", "lag")
INCIDENT_COLUMNS = ("model", "version", "incident", "accuracy", "max_psi", "max_psi_feature",
                    "evidence")


@app.command()
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Workers (from their heartbeats), models with throughput, DLQ rate, accuracy and drift,
    open incidents with evidence, the monitors' join stores (ok, or rebuilt and why),
    consumer lag per group and partition, topic formats (a registry format's latest schema
    version and id, or why not), last retrain decision."""
    from streamapp.status.formats import COLUMNS, format_rows
    from streamapp.status.report import build_report, consumer_groups, group_lag, read_heartbeats

    cfg = settings(ctx)
    conf = cluster_conf(cfg)
    timeout = cfg.kafka.connect_timeout_s
    with kafka_errors():
        beats = read_heartbeats(conf, cfg.topics.status, timeout)
        lag = group_lag(conf, consumer_groups(cfg), timeout)
    report = build_report(beats, lag)
    report["formats"] = format_rows(cfg.topics, cfg.formats, cfg.schema_registry, timeout)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    emit(report["workers"], WORKER_COLUMNS, False, "workers")
    emit(report["models"], MODEL_COLUMNS, False, "models")
    emit([_incident_row(q) for q in report["incidents"]], INCIDENT_COLUMNS, False,
         "open incidents")
    emit(report["stores"], STORE_COLUMNS, False, "monitor join stores")
    emit(report["lag"], LAG_COLUMNS, False, "consumer lag")
    emit(report["formats"], COLUMNS, False, "topic formats")
    decision = report["last_retrain_decision"]
    typer.echo(f"last retrain decision: {json.dumps(decision) if decision else 'none'}")


def _incident_row(quality: dict[str, Any]) -> dict[str, Any]:
    r = quality.get("last_request") or {}
    evidence = (
        f"{r.get('reason')}: {r.get('metric')}={r.get('observed')} "
        f"(threshold {r.get('threshold')}, window {r.get('window')})"
    ) if r else ""
    return {**quality, "evidence": evidence}


def _send_command(ctx: typer.Context, command: str, model: str, version: str, note: str) -> None:
    from confluent_kafka import Producer

    from streamapp.monitoring.control.operator import command_record

    cfg = settings(ctx)
    key, value = command_record(command, model, version, note)
    with kafka_errors():
        producer = Producer({**cluster_conf(cfg), "enable.idempotence": True})
        producer.produce(cfg.topics.monitoring_summaries, key=key, value=value)
        left = producer.flush(cfg.kafka.connect_timeout_s)
    if left:
        raise fail(f"{command} not acknowledged by the cluster within "
                   f"{cfg.kafka.connect_timeout_s:.0f}s")
    typer.echo(f"{command} {model}/{version} sent to the monitor "
               f"({cfg.topics.monitoring_summaries})")


NoteOpt = Annotated[str, typer.Option(help="Why (logged by the monitor).")]


@incidents_app.command("ack")
def ack(ctx: typer.Context, model: str, version: str, note: NoteOpt = "") -> None:
    """Close the open incident of MODEL/VERSION and keep the policy quiet for its cooldown."""
    _send_command(ctx, "ack", model, version, note)


@incidents_app.command("rebaseline")
def rebaseline(ctx: typer.Context, model: str, version: str, note: NoteOpt = "") -> None:
    """After an expected shift: restart MODEL/VERSION's windows from now, close its incident."""
    _send_command(ctx, "rebaseline", model, version, note)
