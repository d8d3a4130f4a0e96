"""``streamapp retrain`` as a hosted role: one :class:`~streamapp.retrain.service.RetrainService`.

The role host resolves the cluster, serves ``/metrics`` and ``/health`` (ready
once the service's consumers are set up), waits for the cluster and beats the
last decision; the service consumes retrain requests until stopped.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.host import HostContext, Role, RoleHost
from streamapp.metrics.formats import FormatMetrics
from streamapp.metrics.retrain import RetrainMetrics
from streamapp.retrain.service import RetrainService


class RetrainRole(Role):
    """The reference retrainer; exits after ``max_requests`` handled requests when set."""

    name = "retrain"

    def __init__(self, max_requests: int | None = None) -> None:
        self.max_requests = max_requests
        self.service: RetrainService | None = None
        self.ctx: HostContext | None = None

    def start(self, ctx: HostContext) -> None:
        self.ctx = ctx
        self.service = RetrainService(ctx.settings, ctx.servers, RetrainMetrics(ctx.prometheus),
                                      health=ctx.health, formats=FormatMetrics(ctx.prometheus))

    def run(self) -> int:
        assert self.service is not None and self.ctx is not None, "start() first"
        self.service.run(self.ctx.stop, self.max_requests)
        return 0

    def ready_reason(self) -> str | None:
        if self.service is None:
            return "starting: waiting for the cluster"
        return self.service.ready_reason()

    def snapshot(self) -> dict[str, Any]:
        group = self.ctx.settings.retrain.group_id if self.ctx is not None else None
        last = self.service.last_decision if self.service is not None else None
        return {"group": group, "last_decision": last}


def run_retrainer(
    settings: Settings,
    max_requests: int | None = None,
    prometheus: CollectorRegistry = REGISTRY,
    local_broker: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Run the retrainer through the role host until SIGINT/SIGTERM or ``max_requests``."""
    role = RetrainRole(max_requests)
    host = RoleHost(settings, role, local_broker=local_broker, prometheus=prometheus, stop=stop)
    return host.run()
