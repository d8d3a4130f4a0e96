"""Which Kafka cluster a role uses: the configured one, or a local broker asked for by name.

A worker never starts a broker on its own: without ``kafka.bootstrap_servers``
it refuses to start (:class:`~streamapp.host.errors.NoClusterError`), unless the
command was given ``--local-broker`` (development only; :mod:`streamapp.brokers`).
Nor does it start with a registry format and no ``schema_registry.url``
(:class:`~streamapp.host.errors.NoRegistryError`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from streamapp.config import Settings
from streamapp.host.errors import NoClusterError, NoRegistryError
from streamapp.kafka.topics import ensure_topics

log = logging.getLogger(__name__)
REGISTRY_FORMATS = {"events", "labels", "predictions", "joined_outcomes"}
"""The ``formats`` settings that name a topic's format."""


def require_cluster(settings: Settings, command: str, local_broker: bool = False) -> None:
    """Raise :class:`NoClusterError` when there is no cluster and none may be started.

    >>> require_cluster(Settings(kafka={"bootstrap_servers": "k:9092"}), "score")
    >>> require_cluster(Settings(kafka={"bootstrap_servers": None}), "score", local_broker=True)
    """
    if not settings.kafka.bootstrap_servers and not local_broker:
        raise NoClusterError(command)


def require_registry(settings: Settings) -> None:
    """Raise :class:`NoRegistryError` when a topic's format needs the Schema Registry and
    ``schema_registry.url`` is not set.

    >>> require_registry(Settings())
    >>> try:
    ...     require_registry(Settings(formats={"labels": "avro"}))
    ... except NoRegistryError as exc:
    ...     print(str(exc)[:45])
    formats.labels = avro needs a Schema Registry
    """
    if settings.schema_registry.url:
        return
    formats = settings.formats.model_dump(include=REGISTRY_FORMATS)
    wire = {name: value for name, value in formats.items() if value != "json"}
    if wire:
        raise NoRegistryError(wire)


@contextmanager
def resolve_cluster(
    settings: Settings, command: str, local_broker: bool = False
) -> Iterator[str]:
    """Bootstrap servers for the block: ``kafka.bootstrap_servers``, or a local broker.

    The local broker (only with ``local_broker``, only without a configured cluster)
    lives for the block and gets the configured topics. Raises
    :class:`NoClusterError` without either, and
    :class:`~streamapp.brokers.BrokerError` when the local broker cannot start.
    """
    require_cluster(settings, command, local_broker)
    if settings.kafka.bootstrap_servers:
        yield settings.kafka.bootstrap_servers
        return
    from streamapp.brokers import embedded_broker  # development code, imported only here

    with embedded_broker(settings.broker) as broker:
        servers = broker.bootstrap_servers
        topics = settings.topics
        ensure_topics(settings.kafka.librdkafka(servers), topics.all_topics(),
                      configs=topics.topic_configs())
        log.warning("local %s broker at %s for development only (export "
                    "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS=%s to share it)", broker.kind, servers,
                    servers, extra={"servers": servers, "broker": broker.kind})
        yield servers
