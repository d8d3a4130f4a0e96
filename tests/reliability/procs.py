"""Real ``python -m streamapp`` processes for fault injection (:class:`streamapp.child.Child`
with a clean environment, its own port, and RSS).

Every process gets its own HTTP port (``STREAMAPP_HTTP__PORT``) so readiness is
probed on ``/health/ready`` and counters are read from ``/metrics``; stdout and
stderr go to a log file that tests scan (secrets, error messages).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil

from streamapp.brokers import free_port
from streamapp.child import Child, streamapp_command

REPO = Path(__file__).resolve().parents[2]


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without any ``STREAMAPP_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update(extra)
    return env


class Proc(Child):
    """One streamapp subprocess (own session) with a loopback HTTP port; output appended."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        port = free_port()
        # One process per spawn (kill -9 hits the worker itself); supervisor tests set more.
        full_env = clean_env({"STREAMAPP_SCORING__PROCESSES": "1", **env,
                              "STREAMAPP_HTTP__PORT": str(port)})
        super().__init__(name, streamapp_command(*args), full_env, log_dir / f"{name}.log",
                         port, cwd=REPO)
        self.args = args
        self.port = port

    def start(self, append: bool = True) -> Proc:
        super().start(append)
        return self

    def wait_ready(
        self,
        timeout: float = 90.0,
        stopped: Callable[[], bool] = lambda: False,
        check: Callable[[], bool] | None = None,
    ) -> float:
        """Block until ``/health/ready`` answers 200; returns the seconds waited."""
        return super().wait_ready(timeout, stopped, check)

    def rss(self) -> int:
        """Resident set size in bytes (0 when the process is gone)."""
        try:
            return int(psutil.Process(self.pid).memory_info().rss)
        except psutil.Error:
            return 0
