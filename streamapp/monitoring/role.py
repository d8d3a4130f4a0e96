"""``streamapp monitor`` as a hosted role: the data plane thread and the faust control plane.

The role host (:class:`~streamapp.host.RoleHost`) resolves the cluster, serves
``/metrics`` and ``/health``, waits for the cluster and beats; this role creates
the configured topics and the join changelog, runs the data plane
(:func:`~streamapp.monitoring.dataplane.worker.kafka_join_worker`) in a thread
and faust in the calling one. Ready when the data plane owns its partitions with
restored stores, the control plane recovered its table and the cluster is
reachable. If the data plane fails, the process stops (SIGTERM to itself) and
exits 1 so a supervisor restarts it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.host import HostContext, Role, RoleHost, ensure_state_dir
from streamapp.kafka.topics import ensure_topics

if TYPE_CHECKING:
    from streamapp.monitoring.control.app import Control
    from streamapp.monitoring.dataplane.worker import JoinWorker

log = logging.getLogger(__name__)


def changelog_config(settings: Settings) -> dict[str, str]:
    """Topic config of the join changelog: compacted, never compacting an unfinished checkpoint.

    ``min.compaction.lag.ms`` keeps records younger than one TTL uncompacted, so
    writes of a checkpoint that never got its marker cannot replace committed
    values before the replay has written them again.
    """
    lag_ms = int(settings.monitoring.label_ttl_s * 1000)
    return {"cleanup.policy": "compact", "min.compaction.lag.ms": str(lag_ms)}


class MonitorRole(Role):
    """One monitor worker: the join data plane (a thread) and faust's policy agent."""

    name = "monitor"

    def __init__(self) -> None:
        self.ctx: HostContext | None = None
        self.worker: JoinWorker | None = None
        self.control: Control | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def check(self, settings: Settings) -> None:
        """``monitoring.state_dir`` (the stores and faust's datadir) exists and is writable."""
        ensure_state_dir(settings.monitoring.state_dir)

    def start(self, ctx: HostContext) -> None:
        """Create the topics, register Avro joined outcomes (``formats.joined_outcomes``),
        start the data plane thread, build the control plane. A subject refusing the
        outcomes' schema raises :class:`~streamapp.host.OutputSchemaError` (exit 2)."""
        from streamapp.metrics.common import BuildMetrics
        from streamapp.monitoring.control.app import build_control, internal_topics
        from streamapp.monitoring.dataplane.worker import kafka_join_worker

        self.ctx = ctx
        settings, conf = ctx.settings, ctx.conf
        topics, mon = settings.topics, settings.monitoring
        BuildMetrics(ctx.prometheus)
        ensure_topics(conf, topics.all_topics(), topics.replication_factor,
                      configs=topics.topic_configs())
        ensure_topics(
            conf, {mon.changelog_topic: topics.partitions}, topics.replication_factor,
            configs={mon.changelog_topic: changelog_config(settings)},
        )
        worker = self.worker = kafka_join_worker(
            settings, ctx.servers, ctx.prometheus, ctx.stop, ctx.health
        )
        # Avro outcomes: registered before anything is consumed; a refusal raises
        # OutputSchemaError (exit 2, one line), an outage is waited out (readiness 503).
        if not worker.start_outcomes():
            return  # stopped while the registry was unreachable: run() returns at once

        def data_plane() -> None:
            try:
                worker.run()
            except BaseException:
                log.exception("monitor data plane failed; stopping the process")
                os.kill(os.getpid(), signal.SIGTERM)

        # The data plane starts first: its group join overlaps faust's import and start.
        self._thread = threading.Thread(target=data_plane, name="monitor-data-plane",
                                        daemon=True)
        self._thread.start()
        self.control = build_control(settings, ctx.servers, ctx.prometheus)
        ensure_topics(conf, internal_topics(self.control.app), topics.replication_factor)

    def run(self) -> int:
        """Run faust until it stops (it installs its own SIGINT/SIGTERM handlers)."""
        import faust

        assert self.ctx is not None, "start() first"
        if self.ctx.stop.is_set() or self.control is None:  # stopped while starting
            return self._exit_code()
        settings = self.ctx.settings
        # override_logging=False keeps streamapp's JSON/text handler (mode would replace it)
        runner = faust.Worker(
            self.control.app, loglevel=settings.log.level, quiet=True, override_logging=False
        )
        runner.spinner = None  # its terminal escapes would corrupt JSON log lines on stdout
        try:
            runner.execute_from_commandline()
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
        return self._exit_code()

    def _exit_code(self) -> int:
        """Stop the data plane; 1 when it failed (a supervisor restarts the process), else 0."""
        self.close()
        return 1 if self.worker is not None and self.worker.fatal is not None else 0

    def close(self) -> None:
        """Stop the data plane and wait for its last checkpoint."""
        if self.ctx is not None:
            self.ctx.stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None
        elif self.worker is not None and not self._closed:  # its start never finished
            self.worker.close()
        self._closed = True

    def ready_reason(self) -> str | None:
        worker, control = self.worker, self.control
        if worker is None:
            return "starting: creating topics"
        if (registry := worker.registry_reason()) is not None:
            return registry  # labels or outcomes in a registry format: docs/formats.md
        if not worker.ready:
            return "join data plane: partitions not assigned"
        if control is None or not control.ready():
            return "control plane: starting or recovering"
        return None

    def snapshot(self) -> dict[str, Any]:
        worker, control, ctx = self.worker, self.control, self.ctx
        if worker is None or control is None or ctx is None:
            return {"ready": False}
        return {"group": ctx.settings.monitoring.app_id, "ready": worker.ready and control.ready(),
                "quality": list(control.aggregator.latest.values()),
                "stores": worker.store_health()}


def run_monitor(
    settings: Settings,
    prometheus: CollectorRegistry = REGISTRY,
    local_broker: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Run one monitor worker through the role host until SIGINT/SIGTERM (blocking); the exit
    code. Raises :class:`~streamapp.host.errors.StartupError` (no cluster, an unusable
    ``monitoring.state_dir``) before anything starts."""
    return RoleHost(settings, MonitorRole(), local_broker=local_broker, prometheus=prometheus,
                    stop=stop).run()
