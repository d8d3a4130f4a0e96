"""``streamapp monitor``: the data plane thread and the faust control plane in one process."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.monitoring.dataplane import JoinWorker

if TYPE_CHECKING:
    from streamapp.monitoring.control import Control

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

    Uses ``kafka.bootstrap_servers`` or starts an embedded broker. Creates the
    configured topics and the join changelog idempotently, serves ``/metrics``
    and ``/health/*`` on ``http`` (ready when the data plane owns its
    partitions with restored stores and the control plane recovered its
    table), runs the data plane in a thread and faust in this one. If the data
    plane fails, the process stops (SIGTERM to itself) so a supervisor restarts it.
    """
    from streamapp.http import HealthServer
    from streamapp.kafka.embedded import kafka_bootstrap
    from streamapp.kafka.topics import ensure_topics
    from streamapp.metrics.common import BuildMetrics

    with kafka_bootstrap(settings) as servers:
        conf = settings.kafka.librdkafka(servers)
        topics, mon = settings.topics, settings.monitoring
        ensure_topics(conf, topics.all_topics(), topics.replication_factor)
        ensure_topics(
            conf, {mon.changelog_topic: topics.partitions}, topics.replication_factor,
            configs={mon.changelog_topic: changelog_config(settings)},
        )
        mon.state_dir.mkdir(parents=True, exist_ok=True)  # the stores and faust's datadir
        stop = threading.Event()
        BuildMetrics(registry)
        worker = JoinWorker(settings, servers, registry, stop)
        control: Control | None = None
        http = HealthServer(  # binds now: a port in use fails before any work starts
            settings.http.host, settings.http.port, registry,
            lambda: worker.ready and control is not None and control.ready(),
        )

        def data_plane() -> None:
            try:
                worker.run()
            except BaseException:
                log.exception("monitor data plane failed; stopping the process")
                os.kill(os.getpid(), signal.SIGTERM)

        # The data plane starts first: its group join overlaps faust's import and start.
        thread = threading.Thread(target=data_plane, name="monitor-data-plane", daemon=True)
        thread.start()
        http.start()
        log.info("monitor http on %s", http.url, extra={"url": http.url})
        try:
            import faust

            from streamapp.monitoring.control import build_control, internal_topics

            control = build_control(settings, servers, registry)
            ensure_topics(conf, internal_topics(control.app), topics.replication_factor)
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
            http.stop()
        if worker.fatal is not None:
            raise SystemExit(1)  # the data plane failed: let the supervisor restart the process
