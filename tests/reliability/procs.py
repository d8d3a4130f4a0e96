"""Real ``python -m streamapp`` processes for fault injection: spawn, probe, SIGKILL, RSS.

Every process gets its own HTTP port (``STREAMAPP_HTTP__PORT``) so readiness is
probed on ``/health/ready`` and counters are read from ``/metrics``; stdout and
stderr go to a log file that tests scan (secrets, error messages).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import psutil
from prometheus_client.parser import text_string_to_metric_families

from streamapp.kafka.embedded import free_port

REPO = Path(__file__).resolve().parents[2]


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without any ``STREAMAPP_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update(extra)
    return env


class Proc:
    """One streamapp subprocess (own session) with a loopback HTTP port."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.port = free_port()
        # One process per spawn (kill -9 hits the worker itself); supervisor tests set more.
        self.env = clean_env({"STREAMAPP_SCORING__PROCESSES": "1", **env,
                              "STREAMAPP_HTTP__PORT": str(self.port)})
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> Proc:
        """Spawn the process; its output is appended to :attr:`log_path`."""
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "streamapp", *self.args],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        """(status, body) of ``GET path``; (0, error) when nothing answers."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError as exc:
            return 0, str(exc)

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Block until ``/health/ready`` answers 200; returns the seconds waited.

        Fails with the log tail when the process exits or ``timeout`` passes.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive():
                raise AssertionError(f"{self.name} exited early:\n{self.log_tail()}")
            if self.get("/health/ready", 1.0)[0] == 200:
                return time.monotonic() - started
            time.sleep(0.1)  # polling interval of a readiness probe, not a wait-for-effect
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Current ``/metrics`` samples keyed by (name, sorted labels)."""
        status, body = self.get("/metrics")
        assert status == 200, f"{self.name} /metrics answered {status}"
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(body):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def metric_sum(self, name: str) -> float:
        """Sum of every sample of ``name`` over all label values."""
        return sum(v for (n, _labels), v in self.metrics().items() if n == name)

    def rss(self) -> int:
        """Resident set size in bytes (0 when the process is gone)."""
        try:
            return int(psutil.Process(self.pid).memory_info().rss)
        except psutil.Error:
            return 0

    def kill(self) -> None:
        """SIGKILL (fault injection) and reap."""
        if self.alive():
            assert self.popen is not None
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)
        self._close_log()

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._close_log()
        return self.popen.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, limit: int = 3000) -> str:
        return self.log_text()[-limit:]

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
