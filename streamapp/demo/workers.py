"""The demo's child processes: ``python -m streamapp score|monitor|retrain``.

Each runs in its own session (so a terminal Ctrl-C reaches only the demo,
which then stops them in order: retrainer, monitor, scorer, then the broker),
logs to ``<out>/logs/<role>.log``, and is probed for readiness on its
``/health/ready`` endpoint. :meth:`Worker.stop` sends SIGTERM to the PID it
started and escalates to SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO


class WorkerError(RuntimeError):
    """A worker exited or did not become ready; the message carries its log tail."""


class Worker:
    """One ``streamapp`` subcommand as a child process."""

    def __init__(
        self,
        role: str,
        args: list[str],
        env: Mapping[str, str],
        log_dir: Path,
        http_port: int | None = None,
    ) -> None:
        self.role = role
        self.argv = [sys.executable, "-m", "streamapp", role, *args]
        self.env = dict(env)
        self.log_path = log_dir / f"{role}.log"
        self.http_port = http_port
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/metrics"

    def start(self) -> Worker:
        """Spawn the process (own session, output to its log file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def ready(self) -> bool:
        """True once ``/health/ready`` answers 200; raises WorkerError if the process died."""
        if not self.alive():
            code = self.process.returncode if self.process else None
            raise WorkerError(f"{self.role} exited with {code}:\n{self.log_tail()}")
        if self.http_port is None:
            return True
        url = f"http://127.0.0.1:{self.http_port}/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                return int(response.status) == 200
        except OSError:
            return False

    def wait_ready(
        self, timeout: float, stopped: Callable[[], bool], check: Callable[[], bool] | None = None
    ) -> None:
        """Poll readiness (or ``check``) until true; WorkerError on exit, timeout or stop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stopped():
            if self.ready() and (check is None or check()):
                return
            time.sleep(0.2)
        reason = "stopped" if stopped() else f"not ready after {timeout:.0f}s"
        raise WorkerError(f"{self.role} {reason}:\n{self.log_tail()}")

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM the started PID, SIGKILL after ``grace`` seconds; returns the exit code."""
        proc = self.process
        try:
            if proc is None:
                return None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
            return proc.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
