"""What every locally started broker shares: a child process, a log file, a readiness probe.

Readiness is a real metadata request that must list the expected number of
brokers, never a sleep. Stopping sends SIGTERM (a clean shutdown), then
SIGKILL after a timeout.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from confluent_kafka.admin import AdminClient


class BrokerError(RuntimeError):
    """A broker could not be found, started, or did not become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BrokerProcess:
    """One broker child process whose stdout/stderr go to ``log`` (a file, never a pipe)."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None):
        self.name = name
        self.cmd = cmd
        self.log = log
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log_fh: IO[bytes] | None = None

    def start(self) -> None:
        """Spawn the process in its own session (a terminal Ctrl-C reaches only our parent)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = self.log.open("ab")
        self.process = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        """Raise :class:`BrokerError` with the log's tail if the process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise BrokerError(
                f"{self.name} exited with {self.process.returncode}: {self.log_tail()}"
            )

    def log_tail(self, limit: int = 3000) -> str:
        try:
            return self.log.read_bytes()[-limit:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if the process has not exited within ``timeout`` seconds."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def kill(self) -> None:
        """SIGKILL (fault injection): no clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()


def wait_for_brokers(
    bootstrap_servers: str,
    expected: int,
    timeout_s: float,
    processes: list[BrokerProcess],
    conf: dict[str, str | int | float | bool] | None = None,
) -> None:
    """Block until a metadata request through ``bootstrap_servers`` lists ``expected`` brokers.

    Raises :class:`BrokerError` when a process exits first or ``timeout_s`` passes.
    """
    # log_level 0: connection-refused noise while the listener comes up is expected.
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0, **(conf or {})})
    deadline = time.monotonic() + timeout_s
    seen = 0
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for proc in processes:
            proc.check_alive()
        try:
            seen = len(admin.list_topics(timeout=1.0).brokers)
            if seen >= expected:
                return
            time.sleep(0.05)  # metadata answered but brokers still registering
        except Exception as exc:  # KafkaException while the listener is not up yet
            last_error = exc
    raise BrokerError(
        f"broker not ready on {bootstrap_servers} after {timeout_s}s "
        f"({seen}/{expected} brokers registered; last error: {last_error})"
    )


class ManagedBroker:
    """Base of locally started brokers: ``bootstrap_servers``, start/stop, context manager."""

    kind: str = "local"
    bootstrap_servers: str

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        """Whether every broker process is still running."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
