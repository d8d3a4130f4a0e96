"""The broker streamapp starts itself when no cluster is configured.

``broker.kind`` chooses: ``kafka`` (Apache Kafka, the reference: durable log,
TLS, SASL, transactions), ``tansu`` (a static binary, memory-only, no Java),
or ``auto`` (the default): Apache Kafka when ``scripts/install-kafka.sh`` has
installed its jars and java is present, else Tansu.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from streamapp.config import BrokerSettings, Settings
from streamapp.kafka.brokers.apache import ApacheKafka, kafka_available
from streamapp.kafka.brokers.process import BrokerError, ManagedBroker, free_port
from streamapp.kafka.brokers.tansu import TansuBroker

__all__ = [
    "ApacheKafka",
    "BrokerError",
    "ManagedBroker",
    "TansuBroker",
    "embedded_broker",
    "free_port",
    "kafka_bootstrap",
    "local_broker_kind",
]

log = logging.getLogger(__name__)


def local_broker_kind(settings: BrokerSettings) -> str:
    """``kafka`` or ``tansu``: what ``broker.kind`` resolves to on this machine."""
    if settings.kind != "auto":
        return settings.kind
    return "kafka" if kafka_available(settings) else "tansu"


def embedded_broker(settings: BrokerSettings | None = None) -> ManagedBroker:
    """An unstarted local broker of the configured kind (``auto``: Kafka if installed).

    Raises :class:`BrokerError` naming the setting or install step when the chosen
    kind cannot run here.
    """
    settings = settings or BrokerSettings()
    if local_broker_kind(settings) == "kafka":
        return ApacheKafka(settings)
    if settings.kind == "auto":
        log.info("Apache Kafka is not installed (scripts/install-kafka.sh): using Tansu")
    return TansuBroker(settings)


@contextmanager
def kafka_bootstrap(settings: Settings) -> Iterator[str]:
    """Bootstrap servers to use: the configured cluster, or a local broker started here.

    When ``kafka.bootstrap_servers`` is set, no broker is ever started.
    """
    if settings.kafka.bootstrap_servers:
        yield settings.kafka.bootstrap_servers
        return
    with embedded_broker(settings.broker) as broker:
        yield broker.bootstrap_servers
