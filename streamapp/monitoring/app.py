"""faust wiring of the monitor: the join agent, the policy agent, and :func:`run_monitor`.

- ``join`` consumes the prediction-log and labels topics (co-partitioned by
  event id) into the ``join`` Table (:class:`~streamapp.monitoring.join.Joiner`),
  writes joined outcomes (same partition, key = event id) and summaries.
- ``aggregate`` consumes the single-partition summaries topic; only the worker
  owning that partition runs it (:class:`~streamapp.monitoring.aggregator.Aggregator`,
  state in the ``policy`` Table) and writes retrain requests.

Both Tables are changelog-backed, so a restarted or failed-over worker resumes
with the held predictions, early labels and open incidents. Processing is
at-least-once; a replayed record is recognised by its event id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import REGISTRY, CollectorRegistry
from pydantic import ValidationError

from streamapp.config import Settings
from streamapp.metrics.monitoring import AggregateMetrics, JoinMetrics
from streamapp.monitoring.aggregator import Aggregator
from streamapp.monitoring.credentials import faust_credentials
from streamapp.monitoring.join import Joiner, JoinResult, Kind
from streamapp.monitoring.summary import Summary
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import Label, LoggedPrediction

log = logging.getLogger(__name__)


@dataclass
class MonitorApp:
    """The faust app plus the pieces tests and the runner need."""

    app: faust.App
    joiner: Joiner
    aggregator: Aggregator

    def ready(self) -> bool:
        """True once started, not rebalancing, and table recovery is complete."""
        app: Any = self.app
        # Called from the HTTP and watchdog threads: read state, never create it. faust
        # builds its Recovery service lazily on first access of ``tables.recovery``;
        # built here, on a foreign thread before the worker's loop does, the worker's
        # conductor never saw its tables registered and the monitor stalled at start
        # (about 5 starts in 6 on Apache Kafka).
        recovery = getattr(app.tables, "_recovery", None)
        if recovery is None:
            return False
        try:
            flags = {
                "started": bool(app.started),
                "rebalancing": bool(app.rebalancing),
                "recovered": bool(recovery.completed.is_set()),
            }
        except AttributeError:
            return False
        ok = flags["started"] and not flags["rebalancing"] and flags["recovered"]
        if not ok:
            log.debug("monitor not ready", extra=flags)
        return ok


def faust_broker(bootstrap: str) -> list[str]:
    """faust broker URLs from a bootstrap list ``h1:p1,h2:p2``.

    >>> faust_broker("127.0.0.1:9092")
    ['kafka://127.0.0.1:9092']
    """
    return [f"kafka://{s.strip()}" for s in bootstrap.split(",") if s.strip()]


def build_app(
    settings: Settings, bootstrap: str, registry: CollectorRegistry = REGISTRY
) -> MonitorApp:
    """Create the faust app with both agents; nothing connects until a worker starts it."""
    mon = settings.monitoring
    topics = settings.topics
    extra: dict[str, Any] = (
        {"producer_max_batch_size": 1, "broker_max_poll_records": 20}
        if mon.embedded_profile
        else {}
    )
    credentials = faust_credentials(settings.kafka)
    if credentials is not None:
        extra["broker_credentials"] = credentials
    app = faust.App(
        mon.app_id,
        broker=faust_broker(bootstrap),
        store="memory://",
        autodiscover=False,
        web_enabled=mon.web_port is not None,
        web_bind="127.0.0.1",
        web_port=mon.web_port or 6066,
        topic_partitions=topics.partitions,
        topic_replication_factor=topics.replication_factor,
        broker_session_timeout=mon.broker_session_timeout_s,
        broker_rebalance_timeout=mon.broker_rebalance_timeout_s,
        broker_heartbeat_interval=mon.broker_heartbeat_interval_s,
        consumer_auto_offset_reset="earliest",
        **extra,
    )
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(topics.prediction_log, topics.labels, **raw)
    summaries = app.topic(topics.monitoring_summaries, partitions=1, **raw)
    outcomes = app.topic(topics.joined_outcomes, **raw)
    retrain = app.topic(topics.retrain_requests, partitions=1, **raw)
    # Table keys and values use faust's json codec: str keys, dict values.
    join_table = app.Table("join", partitions=topics.partitions)
    policy_table = app.Table("policy", partitions=1)

    join_metrics = JoinMetrics(registry)
    joiner = Joiner(join_table, mon.label_ttl_s)
    aggregator = Aggregator(
        mon, ModelRegistry(settings.model.registry), policy_table, AggregateMetrics(registry)
    )

    async def emit(result: JoinResult, part: int) -> None:
        """Count one join result and send its outcome / summaries (same partition)."""
        kind = result.kind
        if kind is Kind.JOINED:
            out = result.outcome
            assert out is not None
            join_metrics.joins.labels(out.model_name, out.model_version, out.variant.value).inc()
            join_metrics.lag.labels(out.model_name).observe(max(out.label_lag_s, 0.0))
            body = out.model_dump_json().encode()
            await outcomes.send(key=out.event_id.encode(), value=body, partition=part)
            if result.prediction is not None:  # label came first: drift has not seen it yet
                await _summary(Summary(kind="prediction", prediction=result.prediction))
            await _summary(Summary(kind="outcome", outcome=out))
        elif kind is Kind.HELD and result.prediction is not None:
            await _summary(Summary(kind="prediction", prediction=result.prediction))
        elif kind is Kind.EXPIRED_PREDICTION and result.prediction is not None:
            pred = result.prediction
            join_metrics.expired.labels(pred.model_name, pred.model_version).inc()
            await _summary(Summary(kind="expired", prediction=pred))
        elif kind is Kind.DUPLICATE_PREDICTION:
            join_metrics.duplicates.labels("prediction").inc()
        elif kind is Kind.DUPLICATE_LABEL:
            join_metrics.duplicates.labels("label").inc()
        elif kind is Kind.LATE_LABEL:
            join_metrics.late.inc()
        elif kind is Kind.UNMATCHED_LABEL:
            join_metrics.unmatched.inc()

    async def _summary(summary: Summary) -> None:
        await summaries.send(
            key=summary.event_id.encode(), value=summary.model_dump_json().encode()
        )

    @app.agent(inputs)
    async def join(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            now = time.time()
            for expired in joiner.expire(msg.partition, now):
                await emit(expired, msg.partition)
            value: bytes = event.value or b""
            try:
                if msg.topic == topics.prediction_log:
                    pred = LoggedPrediction.model_validate_json(value)
                    result = joiner.on_prediction(pred, msg.partition, now)
                else:
                    if len(value) > mon.max_label_bytes:
                        raise ValueError("label too large")
                    label = Label.model_validate_json(value)
                    result = joiner.on_label(label, msg.partition, now)
            except (ValidationError, ValueError):
                join_metrics.malformed.inc()
                continue
            await emit(result, msg.partition)
            await _changelog_handed_over(app)

    @app.agent(summaries)
    async def aggregate(stream: Any) -> None:
        async for value in stream:
            try:
                summary = Summary.model_validate_json(value)
            except ValidationError:
                log.warning("dropping malformed summary")
                continue
            for request in aggregator.handle(summary, time.time()):
                log.info(
                    "retrain request",
                    extra={
                        "model": request.model_name,
                        "version": request.model_version,
                        "reason": request.reason.value,
                        "key": request.idempotency_key,
                    },
                )
                await retrain.send(
                    key=request.idempotency_key.encode(), value=request.model_dump_json().encode()
                )
            await _changelog_handed_over(app)

    def _rebalanced(sender: Any, *args: Any, **kwargs: Any) -> None:
        joiner.forget_partitions()  # expiry indexes are rebuilt from the recovered table

    signals: Any = app  # mode's signal stubs reject a plain callable
    signals.on_partitions_revoked.connect(_rebalanced)
    signals.on_partitions_assigned.connect(_rebalanced)

    return MonitorApp(app, joiner, aggregator)


def internal_topics(app: faust.App) -> dict[str, int]:
    """faust's changelog and leader topics with the partition counts faust expects.

    Created before the worker starts: a broker that auto-creates topics on first
    metadata mention (Tansu: 4 partitions) could otherwise create a 1-partition
    changelog with the wrong count first, and recovery never completes.
    """
    topics = {t.changelog_topic.get_topic_name(): int(t.partitions) for t in app.tables.values()}
    topics[f"{app.conf.id}-__assignor-__leader"] = 1
    return topics


async def _changelog_handed_over(app: faust.App) -> None:
    """Wait until this event's Table writes left faust's producer buffer for the Kafka client.

    faust commits source offsets after flushing the Kafka client but not its own
    changelog buffer, so a kill -9 right after a commit could lose Table writes
    of already-committed events. Waiting here (usually zero iterations) closes
    that gap and keeps the buffer from filling up under replay bursts.
    """
    buffer: Any = app.producer.buffer
    while buffer.size:
        await asyncio.sleep(0.001)


class StartupStalled(RuntimeError):
    """The worker never became ready within ``monitoring.startup_timeout_s``."""


def _startup_watchdog(monitor: MonitorApp, timeout_s: float, done: threading.Event) -> None:
    """Thread: re-execute the process if the worker is not ready within ``timeout_s``.

    Seen on the embedded broker under load (about 1 start in 10): the faust
    consumer never receives its first assignment and stays not ready forever.
    Nothing was consumed or committed yet, so replacing the process image
    (same PID, same arguments) is safe; the restart count travels in
    ``_STREAMAPP_MONITOR_RESTARTS`` and ``streamapp monitor`` gives up with
    exit code 3 after ``monitoring.startup_restarts``.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done.wait(1.0) or monitor.ready():
            return
    restarts = int(os.environ.get(RESTARTS_ENV, "0"))
    log.error(
        "monitor not ready %.0fs after start (group assignment or table recovery stalled); "
        "re-executing (restart %d)",
        timeout_s,
        restarts + 1,
        extra={"restarts": restarts + 1},
    )
    logging.shutdown()
    os.environ[RESTARTS_ENV] = str(restarts + 1)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606


RESTARTS_ENV = "_STREAMAPP_MONITOR_RESTARTS"


def run_monitor(settings: Settings, registry: CollectorRegistry = REGISTRY) -> None:
    """Run one monitor worker until SIGINT/SIGTERM (blocking; the demo's entry point).

    Uses ``kafka.bootstrap_servers`` or, when unset, starts an embedded broker
    (and then turns on the embedded-broker profile). Creates the configured
    topics idempotently, serves ``/metrics`` and ``/health/*`` on ``http``,
    and runs a faust worker. Returns when the worker stopped; the HTTP server
    is stopped on every exit path.
    """
    from streamapp.http import HealthServer
    from streamapp.kafka.embedded import kafka_bootstrap
    from streamapp.kafka.topics import ensure_topics

    with kafka_bootstrap(settings) as servers:
        if not settings.kafka.bootstrap_servers and not settings.monitoring.embedded_profile:
            settings = settings.model_copy(
                update={
                    "monitoring": settings.monitoring.model_copy(update={"embedded_profile": True})
                }
            )
        ensure_topics(
            settings.kafka.librdkafka(servers),
            settings.topics.all_topics(),
            settings.topics.replication_factor,
        )
        monitor = build_app(settings, servers, registry)
        ensure_topics(
            settings.kafka.librdkafka(servers),
            internal_topics(monitor.app),
            settings.topics.replication_factor,
        )
        http = HealthServer(settings.http.host, settings.http.port, registry, monitor.ready)
        http.start()
        log.info("monitor http on %s", http.url, extra={"url": http.url})
        # override_logging=False keeps streamapp's JSON/text handler (mode would replace it).
        worker = faust.Worker(
            monitor.app, loglevel=settings.log.level, quiet=True, override_logging=False
        )
        worker.spinner = None  # its terminal escapes would corrupt JSON log lines on stdout
        done = threading.Event()
        if settings.kafka.bootstrap_servers:  # never orphan an embedded broker by re-executing
            threading.Thread(
                target=_startup_watchdog,
                args=(monitor, settings.monitoring.startup_timeout_s, done),
                name="monitor-startup-watchdog",
                daemon=True,
            ).start()
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
        finally:
            done.set()
            http.stop()
