"""Which local broker to start: ``broker.kind`` resolved on this machine.

``kafka`` (Apache Kafka, the reference: durable log, TLS, SASL, transactions),
``tansu`` (a static binary, memory-only, no Java; the ``local`` extra), or
``auto`` (the default): Apache Kafka when its jars (``streamapp broker
install``) and java are present, else Tansu.
"""

from __future__ import annotations

import logging

from streamapp.brokers.apache import ApacheKafka, kafka_available
from streamapp.brokers.process import BrokerError, ManagedBroker
from streamapp.brokers.tansu import TansuBroker
from streamapp.config import BrokerSettings

log = logging.getLogger(__name__)


def local_broker_kind(settings: BrokerSettings) -> str:
    """``kafka`` or ``tansu``: what ``broker.kind`` resolves to on this machine."""
    if settings.kind != "auto":
        return settings.kind
    return "kafka" if kafka_available(settings) else "tansu"


def embedded_broker(settings: BrokerSettings | None = None) -> ManagedBroker:
    """An unstarted local broker of the configured kind (``auto``: Kafka if installed).

    Raises :class:`~streamapp.brokers.process.BrokerError` naming the setting or
    install step when the chosen kind cannot run here.
    """
    settings = settings or BrokerSettings()
    if local_broker_kind(settings) == "kafka":
        return ApacheKafka(settings)
    if settings.kind != "auto":
        return TansuBroker(settings)
    log.info("Apache Kafka is not installed (streamapp broker install): using Tansu")
    try:
        return TansuBroker(settings)
    except BrokerError as exc:
        raise BrokerError(
            f"no local broker available: Apache Kafka is not installed (`streamapp broker "
            f"install`, and a JRE 17+) and {exc}"
        ) from None
