"""The contract between a role (score, monitor, retrain) and the host that runs it.

The host calls, in order: :meth:`Role.check` (settings only, before any broker,
port or client), :meth:`Role.start` (the cluster answers: build clients and
threads), :meth:`Role.run` (block until the context's stop event or the work is
done), and :meth:`Role.close` (always, also after a failed start). The probes
and :meth:`Role.snapshot` may be called from other threads at any time.
"""

from __future__ import annotations

from typing import Any

from streamapp.config import Settings
from streamapp.host.context import HostContext


class Role:
    """Base of the hosted roles; override what the role needs."""

    name: str = "role"
    """The command (``score``, ``monitor``, ``retrain``): heartbeat role and log context."""

    def check(self, settings: Settings) -> None:
        """Settings-only checks before anything starts; raise
        :class:`~streamapp.host.errors.StartupError` naming the setting."""

    def start(self, ctx: HostContext) -> None:
        """Build the role's clients and threads (the cluster answers); may raise."""

    def run(self) -> int:
        """Serve until the context's stop event is set (or the work is done); the exit code."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what :meth:`start` built (called even when it raised)."""

    def ready_reason(self) -> str | None:
        """None when ready (``/health/ready``), else why not."""
        return None

    def live_reason(self) -> str | None:
        """None while live (``/health/live``), else why the process should be restarted."""
        return None

    def snapshot(self) -> dict[str, Any]:
        """The heartbeat payload (role-specific fields; identity is added by the heartbeat)."""
        return {}
