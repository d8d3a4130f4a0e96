"""The Kafka side of ``streamapp score``: source, sink and model factory from the settings.

Called by :func:`streamapp.scoring.worker.run_worker` before the worker is
constructed; a bad librdkafka setting raises here, before anything started.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from streamapp.config import Settings
from streamapp.kafka.health import ConnectionHealth
from streamapp.kafka.sink import KafkaSink
from streamapp.kafka.source import KafkaSource
from streamapp.registry.registry import ModelVersion
from streamapp.runtime.base import ScoringModel
from streamapp.scoring.reload import ModelFactory

log = logging.getLogger(__name__)


def kafka_source(
    settings: Settings, bootstrap: str, health: ConnectionHealth | None = None
) -> KafkaSource:
    """The consumer of the events topic (not yet subscribed: the worker passes its hooks);
    its errors and statistics feed ``health``."""
    cfg = settings.scoring
    conf = settings.kafka.librdkafka(bootstrap)
    return KafkaSource(
        {
            **conf,
            "group.id": cfg.group_id,
            "auto.offset.reset": cfg.auto_offset_reset,
            "session.timeout.ms": cfg.session_timeout_ms,
            "heartbeat.interval.ms": cfg.heartbeat_interval_ms,
            "queued.max.messages.kbytes": cfg.fetch_queue_kbytes,
            "fetch.wait.max.ms": cfg.fetch_wait_max_ms,
        },
        settings.topics.events,
        health=health,
    )


def kafka_sink(settings: Settings, bootstrap: str) -> KafkaSink:
    """The producer; transactional (a fresh or configured id) under exactly_once.

    Without a scorer pool the main loop produces itself, so a full local queue is
    waited out by serving delivery callbacks there (``poll_when_full``).
    """
    cfg = settings.scoring
    conf = settings.kafka.librdkafka(bootstrap)
    inline = cfg.scorer_threads == 0
    if cfg.processing_guarantee != "exactly_once":
        return KafkaSink(conf, poll_when_full=inline)
    txn_id = cfg.transactional_id or f"{cfg.group_id}-{uuid.uuid4().hex}"
    log.info("exactly-once: transactional id %s", txn_id, extra={"transactional_id": txn_id})
    return KafkaSink(conf, transactional_id=txn_id,
                     transaction_timeout_ms=cfg.transaction_timeout_ms, poll_when_full=inline)


def default_factory(settings: Settings) -> ModelFactory:
    """``load_model`` with the configured runtime, device and intra-op threads (lazy import)."""
    m = settings.model
    runtimes = m.runtime_registry()

    def factory(version: ModelVersion) -> ScoringModel:
        from streamapp.runtime.loader import load_model

        threads = settings.scoring.intra_op_threads
        return load_model(version, m.runtime, m.device, threads, runtimes)

    return factory


@contextmanager
def bootstrap_servers(settings: Settings) -> Iterator[str]:
    """The cluster to use: ``kafka.bootstrap_servers``, or a local broker started for the block.

    A local broker gets the configured topics created. Raises
    :class:`~streamapp.kafka.credentials.KafkaAuthError` within seconds when the
    cluster rejects the credentials; an unreachable cluster is only logged
    (clients retry).
    """
    from streamapp.kafka.credentials import check_credentials
    from streamapp.kafka.embedded import kafka_bootstrap
    from streamapp.kafka.topics import ensure_topics

    with kafka_bootstrap(settings) as servers:
        if not check_credentials(settings.kafka.librdkafka(servers),
                                 settings.kafka.connect_timeout_s):
            log.warning("Kafka not reachable yet at %s; retrying", servers)
        if not settings.kafka.bootstrap_servers:
            ensure_topics(settings.kafka.librdkafka(servers), settings.topics.all_topics(),
                          configs=settings.topics.topic_configs())
            log.info("local broker at %s (export STREAMAPP_KAFKA__BOOTSTRAP_SERVERS=%s)",
                     servers, servers)
        yield servers
