"""The Kafka side of ``streamapp score``: source, sink and model factory from the settings.

Called by the score role (:class:`streamapp.scoring.worker.ScoreRole`) once the
role host has resolved the cluster; a bad librdkafka setting raises here, before
the worker runs. The cluster itself is the host's business
(:mod:`streamapp.host.cluster`): nothing here starts a broker.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from streamapp.config import Settings
from streamapp.kafka.health import ConnectionHealth
from streamapp.kafka.sink import KafkaSink
from streamapp.kafka.source import KafkaSource
from streamapp.registry.registry import ModelVersion
from streamapp.runtime.base import ScoringModel
from streamapp.runtime.catalog import runtime_catalog
from streamapp.scoring.reload import ModelFactory

log = logging.getLogger(__name__)


def consumer_conf(settings: Settings) -> dict[str, Any]:
    """The scoring consumer's own librdkafka properties (group, offsets, fetch sizes)."""
    cfg = settings.scoring
    return {
        "group.id": cfg.group_id,
        "auto.offset.reset": cfg.auto_offset_reset,
        "session.timeout.ms": cfg.session_timeout_ms,
        "heartbeat.interval.ms": cfg.heartbeat_interval_ms,
        "queued.max.messages.kbytes": cfg.fetch_queue_kbytes,
        "fetch.queue.backoff.ms": cfg.fetch_queue_backoff_ms,
        "fetch.wait.max.ms": cfg.fetch_wait_max_ms,
    }


def sink_options(settings: Settings) -> dict[str, Any]:
    """:class:`KafkaSink` keyword arguments: transactional (a fresh or configured id) under
    exactly_once.

    Without a scorer pool the main loop produces itself, so a full local queue is
    waited out by serving delivery callbacks there (``poll_when_full``).
    """
    cfg = settings.scoring
    inline = cfg.scorer_threads == 0
    if cfg.processing_guarantee != "exactly_once":
        return {"poll_when_full": inline}
    txn_id = cfg.transactional_id or f"{cfg.group_id}-{uuid.uuid4().hex}"
    log.info("exactly-once: transactional id %s", txn_id, extra={"transactional_id": txn_id})
    return {"transactional_id": txn_id, "transaction_timeout_ms": cfg.transaction_timeout_ms,
            "poll_when_full": inline}


def kafka_source(
    settings: Settings, bootstrap: str, health: ConnectionHealth | None = None
) -> KafkaSource:
    """The consumer of the events topic (not yet subscribed: the worker passes its hooks);
    its errors and statistics feed ``health``."""
    conf = {**settings.kafka.librdkafka(bootstrap), **consumer_conf(settings)}
    return KafkaSource(conf, settings.topics.events, health=health)


def kafka_sink(settings: Settings, bootstrap: str) -> KafkaSink:
    """The producer of the predictions (:func:`sink_options`)."""
    return KafkaSink(settings.kafka.librdkafka(bootstrap), **sink_options(settings))


def default_factory(settings: Settings) -> ModelFactory:
    """``load_model`` with the configured runtime, device and intra-op threads (lazy import)."""
    m = settings.model
    runtimes = runtime_catalog(m)

    def factory(version: ModelVersion) -> ScoringModel:
        from streamapp.runtime.loader import load_model

        threads = settings.scoring.intra_op_threads
        return load_model(version, m.runtime, m.device, threads, runtimes,
                          precision=m.precision, tolerance=m.precision_tolerance,
                          memory_fraction=m.gpu_memory_fraction)

    return factory
