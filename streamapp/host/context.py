"""What a role host hands the role it runs: the cluster, its clients' settings, the probes.

One :class:`HostContext` per process, built once the cluster is resolved; the
role reads everything from it instead of resolving the cluster, building a
health tracker or a metrics registry itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.kafka.health import ConnectionHealth
from streamapp.kafka.sink import KafkaSink
from streamapp.kafka.source import KafkaSource


@dataclass(frozen=True)
class HostContext:
    """The resolved cluster and the shared parts of one hosted role."""

    settings: Settings
    servers: str
    """Bootstrap servers: ``kafka.bootstrap_servers``, or the local broker's address."""
    health: ConnectionHealth
    """Reachability of the cluster; the clients built here feed it, the probes read it."""
    prometheus: CollectorRegistry
    """The Prometheus registry served on ``/metrics``."""
    stop: threading.Event
    """Set by SIGINT/SIGTERM (or the caller): the role drains and returns."""
    local: bool = False
    """True when the cluster is a local development broker (``--local-broker``)."""

    @property
    def conf(self) -> dict[str, Any]:
        """librdkafka properties of this cluster (security settings included)."""
        return self.settings.kafka.librdkafka(self.servers)

    def source(self, topic: str | list[str], **consumer: Any) -> KafkaSource:
        """An unsubscribed consumer of ``topic`` (``consumer``: extra librdkafka properties,
        e.g. ``group.id``) whose errors and statistics feed :attr:`health`."""
        return KafkaSource({**self.conf, **consumer}, topic, health=self.health)

    def sink(self, **options: Any) -> KafkaSink:
        """A producer on this cluster (``options``: :class:`KafkaSink` keyword arguments)."""
        return KafkaSink(self.conf, **options)
