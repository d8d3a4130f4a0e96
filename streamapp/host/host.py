"""One host per process: resolve the cluster, serve the probes, beat, and run the role.

Like quix-streams' ``Application``, the host is made of named parts, each with
one job: the cluster (:mod:`.cluster`: configured, or a local broker only when
asked), the probes (:class:`~streamapp.http.HealthServer`), the connection
health (:class:`~streamapp.kafka.health.ConnectionHealth`), the heartbeat
(:class:`~streamapp.status.heartbeat.Heartbeat`) and the stop signals
(:mod:`.signals`). It refuses to start without a broker address.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.host.cluster import require_cluster, require_registry, resolve_cluster
from streamapp.host.context import HostContext
from streamapp.host.role import Role
from streamapp.host.signals import stop_on_signals
from streamapp.http import HealthServer
from streamapp.kafka.health import ConnectionHealth, wait_for_cluster
from streamapp.status.heartbeat import Heartbeat

log = logging.getLogger(__name__)


class RoleHost:
    """Runs one :class:`~streamapp.host.role.Role` in this process; :meth:`run` blocks.

    Order: the role's settings checks and the cluster check (both raise
    :class:`~streamapp.host.errors.StartupError` before anything starts), the
    local broker if asked for, the stop signals, ``/metrics`` and ``/health``
    (binding now: a port in use raises :class:`~streamapp.http.HttpBindError`),
    the cluster's first answer, the role's start, the heartbeat, the role's run.
    Rejected credentials raise :class:`~streamapp.kafka.credentials.KafkaAuthError`.
    """

    def __init__(
        self,
        settings: Settings,
        role: Role,
        *,
        local_broker: bool = False,
        prometheus: CollectorRegistry = REGISTRY,
        stop: threading.Event | None = None,
        install_signals: bool = True,
    ) -> None:
        self.settings, self.role, self.local_broker = settings, role, local_broker
        self.prometheus = prometheus
        self.stop = stop or threading.Event()
        self.install_signals = install_signals
        self.context: HostContext | None = None
        self.http: HealthServer | None = None

    def run(self) -> int:
        """Host the role until it returns; its exit code (0 when stopped before it started)."""
        settings, role = self.settings, self.role
        require_cluster(settings, role.name, self.local_broker)
        require_registry(settings)
        role.check(settings)
        with ExitStack() as stack:
            stack.enter_context(stop_on_signals(self.stop, self.install_signals))
            servers = stack.enter_context(
                resolve_cluster(settings, role.name, self.local_broker)
            )
            health = ConnectionHealth(servers, settings.kafka.unreachable_liveness_s)
            ctx = self.context = HostContext(
                settings, servers, health, self.prometheus, self.stop,
                local=not settings.kafka.bootstrap_servers,
            )  # fmt: skip
            stack.enter_context(self._probes(ctx))
            if not self._reach(ctx):
                return 0
            stack.callback(role.close)
            role.start(ctx)
            beat = Heartbeat(ctx.conf, settings.topics.status, role.name, role.snapshot,
                             settings.status.heartbeat_interval_s).start()
            stack.callback(beat.stop)
            return role.run()
        raise AssertionError("unreachable")  # pragma: no cover - ExitStack never swallows here

    @contextmanager
    def _probes(self, ctx: HostContext) -> Iterator[None]:
        """Serve ``/metrics`` and ``/health`` for the block."""
        http = self.http = HealthServer(
            self.settings.http.host, self.settings.http.port, ctx.prometheus,
            self._ready, self._live,
        )  # fmt: skip
        with http:
            log.info("%s http on %s (/metrics, /health/live, /health/ready)", self.role.name,
                     http.url, extra={"url": http.url})
            yield

    def _ready(self) -> str | None:
        """Not ready while the cluster is unreachable, else the role's own reason."""
        ctx = self.context
        reason = ctx.health.ready_reason() if ctx is not None else "starting"
        return reason or self.role.ready_reason()

    def _live(self) -> str | None:
        ctx = self.context
        reason = ctx.health.live_reason() if ctx is not None else None
        return reason or self.role.live_reason()

    def _reach(self, ctx: HostContext) -> bool:
        """Wait for the cluster's first answer with the probes up (not ready meanwhile, not live
        after ``kafka.unreachable_liveness_s``); False when stopped first."""
        return wait_for_cluster(ctx.conf, self.settings.kafka.connect_timeout_s, ctx.stop,
                                ctx.health)
