"""``streamapp monitor``: the data plane thread and the faust control plane in one process."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.kafka.health import ConnectionHealth, wait_for_cluster
from streamapp.monitoring.dataplane.worker import kafka_join_worker
from streamapp.status.heartbeat import Heartbeat

log = logging.getLogger(__name__)


def changelog_config(settings: Settings) -> dict[str, str]:
    """Topic config of the join changelog: compacted, never compacting an unfinished checkpoint.

    ``min.compaction.lag.ms`` keeps records younger than one TTL uncompacted, so
    writes of a checkpoint that never got its marker cannot replace committed
    values before the replay has written them again.
    """
    lag_ms = int(settings.monitoring.label_ttl_s * 1000)
    return {"cleanup.policy": "compact", "min.compaction.lag.ms": str(lag_ms)}


def run_monitor(settings: Settings, registry: CollectorRegistry = REGISTRY) -> None:
    """Run one monitor worker until SIGINT/SIGTERM (blocking).

    Uses ``kafka.bootstrap_servers`` or starts an embedded broker. Serves
    ``/metrics`` and ``/health/*`` on ``http`` at once; waits for the cluster
    (not ready, with the reason; not live after ``kafka.unreachable_liveness_s``),
    then creates the configured topics and the join changelog idempotently,
    runs the data plane in a thread and faust in this one. Ready when the data
    plane owns its partitions with restored stores, the control plane recovered
    its table and the cluster is reachable. If the data plane fails, the process
    stops (SIGTERM to itself) so a supervisor restarts it.
    """
    from streamapp.http import HealthServer
    from streamapp.kafka.embedded import kafka_bootstrap
    from streamapp.metrics.common import BuildMetrics

    with kafka_bootstrap(settings) as servers:
        health = ConnectionHealth(servers, settings.kafka.unreachable_liveness_s)
        conf = settings.kafka.librdkafka(servers)
        stop = threading.Event()
        BuildMetrics(registry)
        parts: dict[str, Any] = {}

        def ready() -> str | None:
            worker, control = parts.get("worker"), parts.get("control")
            if worker is None:
                return health.ready_reason() or "starting: creating topics"
            if not worker.ready:
                return health.ready_reason() or "join data plane: partitions not assigned"
            if control is None or not control.ready():
                return health.ready_reason() or "control plane: starting or recovering"
            return health.ready_reason()

        http = HealthServer(  # binds now: a port in use fails before any work starts
            settings.http.host, settings.http.port, registry, ready, health.live_reason
        )
        http.start()
        log.info("monitor http on %s", http.url, extra={"url": http.url})
        try:
            if _wait_interruptibly(conf, settings.kafka.connect_timeout_s, stop, health):
                _serve(settings, servers, registry, stop, health, parts)
        finally:
            http.stop()
        worker = parts.get("worker")
        if worker is not None and worker.fatal is not None:
            raise SystemExit(1)  # the data plane failed: let the supervisor restart the process


def _wait_interruptibly(
    conf: dict[str, Any], timeout_s: float, stop: threading.Event, health: ConnectionHealth
) -> bool:
    """:func:`~streamapp.kafka.health.wait_for_cluster`, SIGINT/SIGTERM setting ``stop``.

    The default handlers come back afterwards: faust installs its own.
    """
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return wait_for_cluster(conf, timeout_s, stop, health)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(
    settings: Settings,
    servers: str,
    registry: CollectorRegistry,
    stop: threading.Event,
    health: ConnectionHealth,
    parts: dict[str, Any],
) -> None:
    """Create the topics, start the data plane thread, run faust until it stops."""
    from streamapp.kafka.topics import ensure_topics

    conf = settings.kafka.librdkafka(servers)
    topics, mon = settings.topics, settings.monitoring
    ensure_topics(conf, topics.all_topics(), topics.replication_factor,
                  configs=topics.topic_configs())
    ensure_topics(
        conf, {mon.changelog_topic: topics.partitions}, topics.replication_factor,
        configs={mon.changelog_topic: changelog_config(settings)},
    )
    mon.state_dir.mkdir(parents=True, exist_ok=True)  # the stores and faust's datadir
    worker = parts["worker"] = kafka_join_worker(settings, servers, registry, stop, health)

    def data_plane() -> None:
        try:
            worker.run()
        except BaseException:
            log.exception("monitor data plane failed; stopping the process")
            os.kill(os.getpid(), signal.SIGTERM)

    # The data plane starts first: its group join overlaps faust's import and start.
    thread = threading.Thread(target=data_plane, name="monitor-data-plane", daemon=True)
    thread.start()
    try:
        import faust

        from streamapp.monitoring.control.app import build_control, internal_topics

        control = parts["control"] = build_control(settings, servers, registry)
        ensure_topics(conf, internal_topics(control.app), topics.replication_factor)
        parts["heartbeat"] = Heartbeat(
            conf, topics.status, "monitor",
            lambda: {"group": mon.app_id, "ready": worker.ready and control.ready(),
                     "quality": list(control.aggregator.latest.values()),
                     "stores": worker.store_health()},
            settings.status.heartbeat_interval_s,
        ).start()
        # override_logging=False keeps streamapp's JSON/text handler (mode would replace it)
        runner = faust.Worker(
            control.app, loglevel=settings.log.level, quiet=True, override_logging=False
        )
        runner.spinner = None  # its terminal escapes would corrupt JSON log lines on stdout
        runner.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        stop.set()
        thread.join(60)
        if "heartbeat" in parts:
            parts["heartbeat"].stop()
