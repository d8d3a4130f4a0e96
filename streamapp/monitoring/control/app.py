"""The monitor's control plane: a faust agent over the summaries topic.

The ``policy`` agent merges summaries (:class:`~streamapp.monitoring.control.aggregator.Aggregator`)
and sends retrain requests and promotion decisions (canary / shadow verdicts,
:mod:`streamapp.monitoring.control.verdicts`). Summaries are keyed by model version, so one
summaries partition (and one agent instance across N monitor workers) sees
every summary of a version: exactly one retrain request per incident. Its state
(applied checkpoint sequence numbers, totals, incidents) is in the
changelog-backed ``policy`` Table, co-partitioned with the summaries topic.
Volume is low by construction: about one summary per (model, version,
variant, join partition) per checkpoint interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring.control.aggregator import Aggregator
from streamapp.monitoring.control.credentials import faust_credentials
from streamapp.monitoring.control.operator import apply_command, is_command
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.registry import ModelRegistry
from streamapp.statistics.summary import Summary

log = logging.getLogger(__name__)


@dataclass
class Control:
    """The faust app plus what the runner and tests need."""

    app: faust.App
    aggregator: Aggregator

    def ready(self) -> bool:
        """True once started, not rebalancing, and table recovery is complete.

        Called from the HTTP server's thread: it reads state and never creates
        it. faust builds its Recovery service lazily on the first access of
        ``tables.recovery``; built on a foreign thread before the worker's loop did,
        the worker's conductor never saw its tables registered and the monitor
        stalled at start (5 starts in 6 on Apache Kafka; 0 in 50 since).
        """
        app: Any = self.app
        recovery = getattr(app.tables, "_recovery", None)
        if recovery is None:
            return False
        try:
            return bool(app.started and not app.rebalancing and recovery.completed.is_set())
        except AttributeError:
            return False


def faust_broker(bootstrap: str) -> list[str]:
    """faust broker URLs from a bootstrap list ``h1:p1,h2:p2``.

    >>> faust_broker("127.0.0.1:9092")
    ['kafka://127.0.0.1:9092']
    """
    return [f"kafka://{s.strip()}" for s in bootstrap.split(",") if s.strip()]


def build_control(
    settings: Settings, bootstrap: str, prometheus: CollectorRegistry = REGISTRY
) -> Control:
    """Create the faust app with the policy agent; nothing connects until a worker starts it."""
    mon, topics = settings.monitoring, settings.topics
    extra: dict[str, Any] = {}
    credentials = faust_credentials(settings.kafka.librdkafka(bootstrap))
    if credentials is not None:
        extra["broker_credentials"] = credentials
    app = faust.App(
        f"{mon.app_id}-control",
        broker=faust_broker(bootstrap),
        store="memory://",
        datadir=str(mon.state_dir / "faust"),  # not the working directory
        autodiscover=False,
        web_enabled=mon.web_port is not None,
        web_bind="127.0.0.1",
        web_port=mon.web_port or 6066,
        topic_partitions=topics.partitions,
        topic_replication_factor=topics.replication_factor,
        broker_session_timeout=mon.broker_session_timeout_s,
        broker_rebalance_timeout=mon.broker_rebalance_timeout_s,
        broker_heartbeat_interval=mon.broker_heartbeat_interval_s,
        consumer_auto_offset_reset="earliest",
        # One changelog record per produce batch: the policy Table is a few writes per summary,
        # so this costs nothing, and Table recovery is then exact on brokers whose ListOffsets
        # end offset is the first offset of the last batch + 1 (Tansu, BROKER_NOTES).
        producer_max_batch_size=1,
        **extra,
    )
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    summaries = app.topic(topics.monitoring_summaries, partitions=topics.partitions, **raw)
    retrain = app.topic(topics.retrain_requests, partitions=1, **raw)
    decisions = app.topic(topics.promotion_decisions, partitions=1, **raw)
    table = app.Table("policy", partitions=topics.partitions)
    metrics = AggregateMetrics(prometheus)
    aggregator = Aggregator(
        mon, SpecCache(ModelRegistry(settings.model.registry), metrics), table, metrics
    )

    @app.agent(summaries)
    async def policy(stream: Any) -> None:
        async for value in stream:
            if is_command(value):
                apply_command(aggregator, value, time.time())
                await _changelog_handed_over(app)
                continue
            try:
                summary = Summary.from_json(value)
            except (ValueError, TypeError, KeyError):
                log.warning("dropping malformed summary")
                continue
            for request in aggregator.handle(summary, time.time()):
                log.info(
                    "retrain request",
                    extra={"model": request.model_name, "version": request.model_version,
                           "reason": request.reason.value, "key": request.idempotency_key},
                )
                await retrain.send(
                    key=request.idempotency_key.encode(), value=request.model_dump_json().encode()
                )
            for decision in aggregator.take_decisions():
                log.info(
                    "promotion decision",
                    extra={"model": decision.model_name, "version": decision.candidate_version,
                           "decision": decision.decision.value, "p_value": decision.p_value,
                           "effect": decision.effect, "samples": decision.samples},
                )
                await decisions.send(
                    key=decision.model_name.encode(), value=decision.model_dump_json().encode()
                )
            await _changelog_handed_over(app)

    async def gauges() -> None:
        aggregator.export_gauges()  # window and drift gauges of the versions that changed

    timers: Any = app  # faust's timer decorator is untyped
    timers.timer(interval=mon.gauge_interval_s)(gauges)

    def _rebalanced(sender: Any, *args: Any, **kwargs: Any) -> None:
        aggregator.forget()  # another worker may have merged summaries meanwhile

    signals: Any = app  # mode's signal stubs reject a plain callable
    signals.on_partitions_revoked.connect(_rebalanced)
    signals.on_partitions_assigned.connect(_rebalanced)
    return Control(app, aggregator)


def internal_topics(app: faust.App) -> dict[str, int]:
    """faust's changelog and leader topics with the partition counts faust expects.

    Created before the worker starts, so a broker that auto-creates topics on
    first mention never creates them with other partition counts.
    """
    topics = {t.changelog_topic.get_topic_name(): int(t.partitions) for t in app.tables.values()}
    topics[f"{app.conf.id}-__assignor-__leader"] = 1
    return topics


async def _changelog_handed_over(app: faust.App) -> None:
    """Wait until this summary's Table writes left faust's producer buffer.

    faust commits source offsets after flushing the Kafka client but not its own
    changelog buffer; waiting here (one summary at a time, low volume) keeps a
    kill -9 from losing Table writes of an already-committed summary.
    """
    buffer: Any = app.producer.buffer
    while buffer.size:
        await asyncio.sleep(0.001)
