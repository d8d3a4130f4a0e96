"""What every locally started broker shares: a child process, a log file, a readiness probe.

Readiness is a real metadata request that must list the expected number of
brokers, never a sleep. Stopping sends SIGTERM (a clean shutdown), then
SIGKILL after a timeout.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from confluent_kafka.admin import AdminClient

from streamapp.child import Child


class BrokerError(RuntimeError):
    """A broker could not be found, started, or did not become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BrokerProcess(Child):
    """One broker child process whose stdout/stderr go to ``log`` (a file, never a pipe)."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None):
        super().__init__(name, cmd, env, log)

    def start(self, append: bool = True) -> BrokerProcess:
        """Spawn the process in its own session, its output appended to the log."""
        super().start(append)
        return self

    def check_alive(self) -> None:
        """Raise :class:`BrokerError` with the log's tail if the process has exited."""
        if self.popen is not None and self.popen.poll() is not None:
            raise BrokerError(f"{self.name} exited with {self.popen.returncode}: {self.log_tail()}")

    def terminate(self) -> None:
        """SIGTERM without waiting (stop several nodes at once, then :meth:`stop` each)."""
        if self.alive():
            assert self.popen is not None
            self.popen.terminate()


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
