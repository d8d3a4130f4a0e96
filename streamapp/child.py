"""Child processes (``python -m streamapp <role>`` and others) for the demo and the test suites.

Each child runs in its own session (a terminal Ctrl-C reaches only its parent,
which stops its children in order), writes stdout and stderr to one log file,
and, given an HTTP port, is probed for readiness on ``/health/ready`` and read
on ``/metrics``. Signals go to the PID it started, never to a process name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class ChildError(RuntimeError):
    """A child exited or did not become ready; the message carries its log tail."""


def streamapp_command(*args: str) -> list[str]:
    """The argv of a streamapp subcommand run by this interpreter."""
    return [sys.executable, "-m", "streamapp", *args]


class Child:
    """One child process with a log file and, optionally, a loopback HTTP port."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None,
        log_path: Path,
        http_port: int | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = None if env is None else dict(env)
        """The child's whole environment; None: this process's."""
        self.log_path = log_path
        self.http_port = http_port
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of its HTTP port."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int | None:
        """The started process's id (None before :meth:`start`)."""
        return None if self.popen is None else self.popen.pid

    def start(self, append: bool = False) -> Child:
        """Spawn it in its own session, output to :attr:`log_path` (appended with ``append``)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab" if append else "wb")
        self.popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
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
        """(status, body) of ``GET path`` on its port; (0, error) when nothing answers."""
        try:
            url = f"http://127.0.0.1:{self.http_port}{path}"
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError as exc:
            return 0, str(exc)

    def ready(self) -> bool:
        """True once ``/health/ready`` answers 200 (at once without a port).

        Raises :class:`ChildError` with the log tail when the process has exited.
        """
        if not self.alive():
            code = self.popen.returncode if self.popen else None
            raise ChildError(f"{self.name} exited with {code}:\n{self.log_tail()}")
        return self.http_port is None or self.get("/health/ready", 1.0)[0] == 200

    def wait_ready(
        self,
        timeout: float,
        stopped: Callable[[], bool] = lambda: False,
        check: Callable[[], bool] | None = None,
    ) -> float:
        """Poll :meth:`ready` (and ``check``) until true; returns the seconds waited.

        Raises :class:`ChildError` when the child exits, ``timeout`` passes or ``stopped()``.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout and not stopped():
            if self.ready() and (check is None or check()):
                return time.monotonic() - started
            time.sleep(0.1)  # the polling interval of a readiness probe
        reason = "stopped" if stopped() else f"not ready after {timeout:.0f}s"
        raise ChildError(f"{self.name} {reason}:\n{self.log_tail()}")

    def metrics(self) -> Samples:
        """Current ``/metrics`` samples keyed by (name, sorted labels); ChildError if unreadable."""
        status, body = self.get("/metrics")
        if status != 200:
            raise ChildError(f"{self.name} /metrics answered {status}: {body[:200]}")
        out: Samples = {}
        for family in text_string_to_metric_families(body):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def metric_sum(self, name: str) -> float:
        """Sum of every sample of ``name`` over all label values."""
        return sum(v for (n, _labels), v in self.metrics().items() if n == name)

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
        proc = self.popen
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self._close_log()
        return None if proc is None else proc.returncode

    def kill(self) -> None:
        """SIGKILL (fault injection) and reap."""
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)
        self._close_log()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
