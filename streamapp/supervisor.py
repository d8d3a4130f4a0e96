"""All cores from one command: ``<role>.processes`` workers in one consumer group.

``streamapp score`` with ``scoring.processes > 1`` and ``streamapp monitor`` with
``monitoring.processes > 1`` run this supervisor: it resolves the cluster once
through the role host's resolution (:func:`streamapp.host.resolve_cluster`:
``kafka.bootstrap_servers``, a local development broker only with
``--local-broker``, else :class:`~streamapp.host.NoClusterError` before any
child starts), then starts that many
``python -m streamapp <role>`` children with ``processes=1``, the same group
and distinct HTTP ports (``http.port + i`` when a port is set); monitor
children also get their own state directory (``monitoring.state_dir/process-i``:
a partition that moves between them is restored from the changelog). A child
that exits without being asked to is restarted after a backoff that doubles
per quick crash (up to 30 s) and resets after a minute of uptime; the group
rebalances its partitions meanwhile, and the roles' commits mean nothing is
lost. SIGTERM/SIGINT is forwarded to every child, which drains and commits;
the supervisor exits 0 when all of them did, 1 otherwise, and 2 at once if a
child reports a usage/config error. Children die with the supervisor (Linux
parent-death signal).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Literal

from streamapp.config import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
STABLE_S = 60.0
USAGE_ERROR = 2


Role = Literal["score", "monitor"]
"""The subcommand the children run."""


def child_env(
    role: Role, settings: Settings, bootstrap: str, slot: int, config: str | None
) -> dict[str, str]:
    """The environment of child ``slot``: one process, this cluster and group, its own port
    (and, for the monitor, its own state directory and faust web port)."""
    port = settings.http.port
    env = dict(os.environ)
    env.update({
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "STREAMAPP_HTTP__PORT": str(port + slot if port else 0),
    })
    if role == "score":
        cfg = settings.scoring
        env.update({"STREAMAPP_SCORING__PROCESSES": "1",
                    "STREAMAPP_SCORING__GROUP_ID": cfg.group_id})
        if cfg.transactional_id:  # stable per slot: a restarted child fences its predecessor
            env["STREAMAPP_SCORING__TRANSACTIONAL_ID"] = f"{cfg.transactional_id}-{slot}"
    else:
        mon = settings.monitoring
        env.update({
            "STREAMAPP_MONITORING__PROCESSES": "1",
            "STREAMAPP_MONITORING__APP_ID": mon.app_id,
            "STREAMAPP_MONITORING__STATE_DIR": str(mon.state_dir / f"process-{slot}"),
        })
        if mon.web_port:
            env["STREAMAPP_MONITORING__WEB_PORT"] = str(mon.web_port + slot)
    if config:
        env["STREAMAPP_CONFIG"] = config
    return env


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies (Linux; a no-op elsewhere)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


class Child:
    """One slot: its process, restart backoff and the time it may start again."""

    def __init__(self, slot: int, env: dict[str, str], backoff_s: float,
                 role: Role = "score") -> None:
        self.slot, self.env, self.role = slot, env, role
        self.first_backoff_s = self.backoff_s = backoff_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.not_before = 0.0
        self.restarts = 0

    def start(self) -> None:
        """Start (or restart) the child process."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamapp", self.role], env=self.env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.started = time.monotonic()
        log.info("%s process %d started (pid %d)", self.role, self.slot, self.proc.pid,
                 extra={"slot": self.slot, "pid": self.proc.pid})

    def crashed(self, code: int, now: float) -> None:
        """Schedule a restart after the backoff (reset when it had run stably)."""
        if now - self.started >= STABLE_S:
            self.backoff_s = self.first_backoff_s
        self.not_before = now + self.backoff_s
        log.warning("%s process %d exited with %d; restarting in %.1f s", self.role, self.slot,
                    code, self.backoff_s, extra={"slot": self.slot, "exit_code": code})
        self.backoff_s = min(MAX_BACKOFF_S, self.backoff_s * 2)
        self.restarts += 1
        self.proc = None


class Supervisor:
    """Keeps one child per slot running until ``stop`` is set; :meth:`run` returns the exit code."""

    def __init__(self, envs: list[dict[str, str]], backoff_s: float, stop_timeout_s: float,
                 stop: threading.Event, role: Role = "score") -> None:
        self.children = [Child(i, env, backoff_s, role) for i, env in enumerate(envs)]
        self.stop_timeout_s = stop_timeout_s
        """How long a child may take to stop after SIGTERM before it is killed."""
        self.stop = stop

    def run(self, on_tick: Callable[[Supervisor], None] | None = None) -> int:
        """Start every child, restart crashed ones, then forward the stop and wait."""
        for child in self.children:
            child.start()
        while not self.stop.wait(0.1):
            now = time.monotonic()
            for child in self.children:
                code = child.proc.poll() if child.proc is not None else None
                if code == USAGE_ERROR:  # its one line, naming the fix, stays the last one
                    log.debug("%s process %d reported a usage error; stopping", child.role,
                              child.slot)
                    self.stop.set()
                    self._terminate()
                    return USAGE_ERROR
                if code is not None:
                    child.crashed(code, now)
                if child.proc is None and now >= child.not_before:
                    child.start()
            if on_tick is not None:
                on_tick(self)
        return self._terminate()

    def _terminate(self) -> int:
        """SIGTERM every child, wait for their drain, SIGKILL stragglers; 0 if all exited 0."""
        running = [c.proc for c in self.children if c.proc is not None]
        for proc in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        codes: list[int] = []
        for proc in running:
            try:
                codes.append(proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return 0 if all(c == 0 for c in codes) else 1


def run_supervised(
    role: Role, settings: Settings, config: str | None = None, local_broker: bool = False
) -> int:
    """``streamapp <role>`` with ``processes > 1``; blocks until SIGTERM/SIGINT.

    Raises :class:`~streamapp.host.NoClusterError` before anything starts when no
    cluster is configured and ``local_broker`` is False (and
    :class:`~streamapp.host.NoRegistryError` for a registry format without a registry).
    """
    from streamapp.host import (
        ensure_state_dir,
        require_cluster,
        require_registry,
        resolve_cluster,
    )
    from streamapp.host.signals import stop_on_signals

    require_cluster(settings, role, local_broker)
    require_registry(settings)
    if role == "monitor":  # the children's state directories go below it
        ensure_state_dir(settings.monitoring.state_dir)
    if role == "score":
        cfg = settings.scoring
        n, group, backoff_s = cfg.processes, cfg.group_id, cfg.restart_backoff_s
        stop_timeout_s = cfg.drain_timeout_s + 15
    else:
        mon = settings.monitoring
        n, group, backoff_s = mon.processes, mon.app_id, mon.restart_backoff_s
        stop_timeout_s = mon.stop_timeout_s
    stop = threading.Event()
    with stop_on_signals(stop), resolve_cluster(settings, role, local_broker) as servers:
        envs = [child_env(role, settings, servers, i, config) for i in range(n)]
        log.info("supervising %d %s processes in group %s", n, role, group)
        return Supervisor(envs, backoff_s, stop_timeout_s, stop, role).run()
