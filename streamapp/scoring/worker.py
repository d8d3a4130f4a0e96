"""The scoring worker: a loop of named phases over a source, a scorer pool and a sink.

Each pass of :meth:`ScoringWorker._loop` runs, on the main thread:
``deliver`` (serve delivery callbacks, re-produce failures) → ``settle``
(acknowledged batches → metrics) → ``commit`` (the commit policy) →
``throttle`` (backpressure) → ``observe_lag`` → ``fetch`` → ``submit``
(decode here, then route + produce in the scorer pool). The parts with one job
each: :class:`~.ledger.InFlightLedger`, :class:`~.backpressure.Backpressure`,
:mod:`.commits` (at-least-once / exactly-once), :class:`~.leases.ModelLeases`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.formats import RegistryFormat, RegistryStopped, input_format
from streamapp.gc_tuning import tune_for_batches
from streamapp.host import HostContext, Role, RoleHost
from streamapp.kafka.commit import TopicPartition
from streamapp.kafka.health import ConnectionHealth
from streamapp.kafka.sink import delivery_failure
from streamapp.metrics.common import ModelMetrics
from streamapp.metrics.formats import FormatMetrics
from streamapp.metrics.scoring import ScoringMetrics
from streamapp.registry.registry import MissingPointerError, ModelRegistry, RegistryError
from streamapp.runtime.base import ModelLoadError
from streamapp.scoring.backpressure import Backpressure
from streamapp.scoring.batcher import AdaptiveBatcher, BatchRequest, split_by_bytes
from streamapp.scoring.commits import AtLeastOnce, ExactlyOnce
from streamapp.scoring.decode import DecodedBatch, Record
from streamapp.scoring.dlq_log import DeadLetterWarnings
from streamapp.scoring.kafka_io import (
    consumer_conf,
    default_factory,
    kafka_sink,
    kafka_source,
    sink_options,
)
from streamapp.scoring.ledger import BatchTicket, InFlightLedger
from streamapp.scoring.outcome import BatchOutcome
from streamapp.scoring.outputs import prediction_registry, start_predictions
from streamapp.scoring.ports import Fault, Sink, Source
from streamapp.scoring.reload import ModelFactory, ModelWatcher, Slots
from streamapp.scoring.router import Router

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.02
"""How long a fetch that found nothing waits for the first record (it returns at once when
one arrives): short, so that an idle loop still serves deliveries and commits promptly."""


class ScoringWorker:
    """One process worth of scoring; :meth:`run` blocks until stopped and returns the exit code."""

    def __init__(
        self,
        settings: Settings,
        source: Source,
        sink: Sink,
        factory: ModelFactory | None = None,
        prometheus: CollectorRegistry = REGISTRY,
        stop_event: threading.Event | None = None,
        health: ConnectionHealth | None = None,
    ) -> None:
        self.settings, self.cfg = settings, settings.scoring
        self.health = health
        self.source, self.sink = source, sink
        self.metrics = ScoringMetrics(prometheus)
        self.model_metrics = ModelMetrics(prometheus)
        self.prometheus = prometheus
        self.stop_event = stop_event or threading.Event()
        self.factory = factory or default_factory(settings)
        self.router = Router(settings.topics, settings.sampling)
        self.batcher = AdaptiveBatcher(
            self.cfg.max_batch_size, self.cfg.max_wait_ms / 1000, self.cfg.latency_target_ms / 1000
        )
        self.ledger = InFlightLedger()
        self.fault = Fault()
        self.backpressure = Backpressure(self.cfg, self.metrics)
        policy = ExactlyOnce if self.cfg.processing_guarantee == "exactly_once" else AtLeastOnce
        self.commits = policy(source, sink, self.ledger, self.metrics, self.fault, self._drain,
                              self.cfg.commit_interval_ms / 1000, self.cfg.drain_timeout_s)
        self.ready = False
        self.format_metrics = FormatMetrics(prometheus)
        self.events_format: RegistryFormat | None = input_format(
            settings.formats.events, settings.topics.events, settings.formats,
            settings.schema_registry, self.format_metrics, settings.log.repeat_interval_s,
            self.stop_event,
        )
        """The events topic's wire format (None: the JSON envelope); docs/formats.md."""
        self.outputs = prediction_registry(settings, self.format_metrics, self.stop_event)
        """The registry of Avro predictions (None: JSON), registered at the start of run."""
        self._last_lag = 0.0
        self.dead_letters = DeadLetterWarnings(settings.topics.dead_letter,
                                               settings.log.repeat_interval_s)
        self.totals: Counter[str] = Counter(consumed=0, predictions=0, dead_letter=0)
        """consumed / predictions / dead_letter events since start (for heartbeats)."""

    @property
    def fatal(self) -> BaseException | None:
        """The first fatal error (the worker stops and exits 1 without committing past it)."""
        return self.fault.error

    @property
    def inflight_events(self) -> int:
        """Events fetched and not yet committed."""
        return self.ledger.events

    # ---- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until the stop event (SIGTERM) or a fatal error; 0 after a clean drain.

        Avro predictions are registered first: a refusing subject raises
        :class:`~.outputs.OutputSchemaError` (exit 2, one line), an outage is waited out.
        """
        s = self.settings
        if self.outputs is not None:  # a refusal raises OutputSchemaError: exit 2, one line
            try:
                self.router.avro = start_predictions(self.outputs, s, self.format_metrics)
            except RegistryStopped:  # stopped while the registry was unreachable
                return 0
        try:
            self.watcher = ModelWatcher(
                ModelRegistry(s.model.registry), s.model.name, self.factory, self.model_metrics,
                self.cfg.max_event_bytes, s.model.pointer,
                s.model.candidate_pointer if s.sampling.candidate_mode != "off" else None,
                self.cfg.reload_poll_ms / 1000, self.events_format,
            ).start()
        except MissingPointerError as exc:
            log.error("configuration error: %s", exc)
            return 2
        except (RegistryError, ModelLoadError) as exc:
            log.error("cannot load the serving model: %s", exc)
            return 1
        tune_for_batches()  # the loaded runtime and model never scanned again by full collections
        self.pool = (ThreadPoolExecutor(self.cfg.scorer_threads, thread_name_prefix="scorer")
                     if self.cfg.scorer_threads else None)
        self.source.subscribe(self._on_assign, self._on_revoke, self._on_lost)
        try:
            self._loop()
        finally:
            code = self._shutdown()
        return code

    def _loop(self) -> None:
        """The named phases, in order, until stopped or a fatal error."""
        while not self.stop_event.is_set() and self.fault.error is None:
            self.deliver()
            self.settle()
            self.commits.tick(time.monotonic())
            self.backpressure.apply(self.source, self.ledger, len(self.commits.owned))
            self.observe_lag()
            records = self.fetch()
            for chunk in split_by_bytes(records, self.cfg.max_batch_bytes):
                self.submit(chunk)

    def _shutdown(self) -> int:
        """Stop fetching, drain in-flight work, commit, leave the group; the exit code."""
        self.ready = False
        log.info("draining %d in-flight events", self.ledger.events)
        self._drain(lambda: self.ledger.busy, self.cfg.drain_timeout_s)
        self.commits.commit(asynchronous=False)
        try:
            self.source.close()
        except Exception:  # closing after a broker loss must not hide the exit code
            log.exception("consumer close failed")
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.sink.flush(5)
        self.watcher.stop()
        if self.fault.error is not None:
            log.error("scoring worker stopped on a fatal error: %s", self.fault.error)
            return 1
        return 0

    def ready_reason(self) -> str | None:
        """None when serving (model loaded, partitions assigned, cluster reachable), else why."""
        reason = self.health.ready_reason() if self.health is not None else None
        if reason is None and self.events_format is not None:
            reason = self.events_format.ready_reason()
        if reason is None and self.outputs is not None:
            reason = self.outputs.ready_reason()
        if reason is None and not self.ready:
            reason = "no partitions assigned yet (joining the consumer group)"
        return reason

    def live_reason(self) -> str | None:
        """None unless the cluster has been unreachable past ``kafka.unreachable_liveness_s``."""
        return self.health.live_reason() if self.health is not None else None

    def status_snapshot(self) -> dict[str, Any]:
        """What this worker serves and has done (the heartbeat's payload; any thread)."""
        watcher = getattr(self, "watcher", None)
        slots = watcher.slots if watcher is not None else None
        primary = slots.primary if slots is not None else None
        candidate = slots.candidate if slots is not None else None
        return {
            "model": self.settings.model.name,
            "version": primary.version if primary is not None else None,
            "candidate": candidate.version if candidate is not None else None,
            "candidate_mode": self.settings.sampling.candidate_mode,
            "runtime": primary.runtime if primary is not None else None,
            "device": primary.device if primary is not None else None,
            "group": self.cfg.group_id,
            "ready": self.ready_reason() is None,
            **{f"{k}_total": v for k, v in dict(self.totals).items()},
        }

    # ---- phases ----------------------------------------------------------------------------

    def deliver(self, timeout: float = 0.0) -> None:
        """Serve delivery callbacks; a failed delivery (already retried by librdkafka) is fatal."""
        self.sink.poll(timeout)
        for ticket in self.ledger.failed():
            for msg in ticket.failed:
                self.metrics.delivery_errors.labels(topic=str(msg.topic())).inc()
            self.fault.set(delivery_failure(ticket))

    def settle(self) -> None:
        """Acknowledged batches: observe their outcome (per batch, never per event)."""
        model = self.settings.model.name
        for ticket in self.ledger.reap():
            if ticket.payload is not None:
                ticket.payload.observe(self.metrics, model)
                self.dead_letters.add(ticket.payload.dead)
                self.totals["predictions"] += sum(ticket.payload.predictions.values())
                self.totals["dead_letter"] += sum(ticket.payload.dead.values())

    def observe_lag(self) -> None:
        """Refresh the per-partition lag gauges about once a second."""
        now = time.monotonic()
        if now - self._last_lag >= 1.0:
            self._last_lag = now
            group, model = self.settings.scoring.group_id, self.settings.model.name
            for (topic, part), lag in self.source.lag().items():
                self.metrics.lag.labels(
                    topic=topic, partition=str(part), group=group, model=model
                ).set(lag)

    def fetch(self) -> list[Record]:
        """The next batch the batcher asks for (a short poll while paused, for rebalances).

        An empty source is waited on up to :data:`IDLE_WAIT_S`, returning at its first record.
        """
        source, batcher = self.source, self.batcher
        req = BatchRequest(1, 0.05) if source.paused else batcher.next_request()
        started = time.monotonic()
        records = list(source.fetch(req.size, req.timeout_s, IDLE_WAIT_S))
        if not source.paused:
            batcher.observe(len(records), time.monotonic() - started)
        if records:
            self.metrics.consumed.labels(
                topic=self.settings.topics.events, model=self.settings.model.name
            ).inc(len(records))
            self.totals["consumed"] += len(records)
        return records

    def submit(self, records: list[Record]) -> None:
        """Open a ticket, decode here, then route + produce in the scorer pool (or here, with
        ``scorer_threads`` 0)."""
        slots = self.watcher.slots
        self.watcher.leases.acquire(slots.primary, slots.candidate)
        try:
            batch = slots.decoder.decode(records)
        except RegistryStopped:  # stopped while the schema registry was unreachable
            self.watcher.leases.release(slots.primary, slots.candidate)
            log.info("stopping with %d fetched events undecoded (schema registry unreachable): "
                     "not committed, the group delivers them again", len(records))
            return
        ticket = self.ledger.add(records)
        if self.pool is None:
            try:
                self._score(ticket, batch, slots)
            except Exception as exc:  # as from the pool: fatal, nothing of it is committed
                self._failed(exc)
            return
        future = self.pool.submit(self._score, ticket, batch, slots)
        future.add_done_callback(self._check_future)

    def _score(self, ticket: BatchTicket, batch: DecodedBatch, slots: Slots) -> None:
        """Scorer thread: route through the models, then produce the outputs."""
        try:
            routed = self.router.route(batch, slots.primary, slots.candidate)
        finally:
            self.watcher.leases.release(slots.primary, slots.candidate)
        for name, version, seconds, rows, units in routed.inference:
            self.metrics.inference.labels(model=name, version=version).observe(seconds)
            self.metrics.batch_size.labels(model=name).observe(rows)
            self.metrics.batch_units.labels(model=name).observe(units)
            self.batcher.observe_inference(rows, seconds, units)
        ticket.payload = BatchOutcome.of(routed, batch.event_dts)
        self.sink.send(ticket, routed.records, routed.columns)

    def _check_future(self, future: Future[None]) -> None:
        """A scorer-pool batch raised: record it as fatal (the worker stops, exit 1)."""
        exc = future.exception()
        if exc is not None:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if self.fault.error is None:
            log.error("scoring batch failed: %r", exc)
            self.fault.set(exc)

    def _drain(self, busy: Callable[[], bool], timeout: float) -> bool:
        """Deliver and settle until ``busy()`` is false or ``timeout`` passes; True if drained."""
        deadline = time.monotonic() + timeout
        while busy() and time.monotonic() < deadline and self.fault.error is None:
            self.deliver(0.01)
            self.settle()
        return not busy()

    # ---- rebalance hooks (inside fetch, on the main thread) --------------------------------

    def _on_assign(self, tps: list[TopicPartition]) -> None:
        """Partitions are ours: the commit policy owns them; the worker reports ready."""
        self.metrics.rebalances.labels(kind="assign").inc()
        self.commits.assigned(tps)
        log.info("assigned %s", sorted(p for _, p in tps))
        self.ready = True

    def _on_revoke(self, tps: list[TopicPartition]) -> None:
        """Finish and commit the revoked partitions' batches (up to ``drain_timeout_s``)."""
        self.metrics.rebalances.labels(kind="revoke").inc()
        drained = self.commits.revoked(tps)
        log.info("revoked %s (drained=%s)", sorted(p for _, p in tps), drained)

    def _on_lost(self, tps: list[TopicPartition]) -> None:
        """Lost without a revoke: commit nothing for them (exactly-once: abort and stop)."""
        self.metrics.rebalances.labels(kind="lost").inc()
        self.commits.lost(tps)
        log.warning("lost %s", sorted(p for _, p in tps))


class ScoreRole(Role):
    """``streamapp score`` as a hosted role: one :class:`ScoringWorker` over the host's cluster.

    The host serves ``/metrics`` and ``/health``; ready once the worker has loaded its
    model and owns partitions (:meth:`ScoringWorker.ready_reason`).
    """

    name = "score"

    def __init__(self, factory: ModelFactory | None = None) -> None:
        self.factory = factory
        self.worker: ScoringWorker | None = None

    def start(self, ctx: HostContext) -> None:
        """Build the worker on the host's source and sink (raises on a bad client config)."""
        s = ctx.settings
        source = ctx.source(s.topics.events, **consumer_conf(s))
        self.worker = ScoringWorker(s, source, ctx.sink(**sink_options(s)), self.factory,
                                    ctx.prometheus, ctx.stop, ctx.health)

    def run(self) -> int:
        assert self.worker is not None, "start() first"
        return self.worker.run()

    def ready_reason(self) -> str | None:
        if self.worker is None:
            return "starting: building the scoring worker"
        return self.worker.ready_reason()

    def snapshot(self) -> dict[str, Any]:
        return self.worker.status_snapshot() if self.worker is not None else {"ready": False}


def run_worker(
    settings: Settings,
    stop_event: threading.Event | None = None,
    factory: ModelFactory | None = None,
    prometheus: CollectorRegistry = REGISTRY,
    install_signals: bool = False,
    local_broker: bool = False,
) -> int:
    """Run a scoring worker until ``stop_event`` is set (or SIGTERM/SIGINT); returns the exit code.

    Runs through the role host (:class:`~streamapp.host.RoleHost`): the cluster is
    ``kafka.bootstrap_servers``, or a local development broker only with
    ``local_broker``; without either it raises
    :class:`~streamapp.host.errors.NoClusterError`. Raises
    :class:`~streamapp.kafka.credentials.KafkaAuthError` within seconds when the
    cluster rejects the credentials; an unreachable cluster is retried.
    """
    host = RoleHost(settings, ScoreRole(factory), local_broker=local_broker, prometheus=prometheus,
                    stop=stop_event, install_signals=install_signals)
    return host.run()


def kafka_worker(
    settings: Settings,
    bootstrap: str,
    factory: ModelFactory | None = None,
    prometheus: CollectorRegistry = REGISTRY,
    stop_event: threading.Event | None = None,
    health: ConnectionHealth | None = None,
) -> ScoringWorker:
    """A worker over the Kafka source and sink of ``settings`` (raises on a bad client config),
    without a host: for tests and benchmarks that drive a worker directly.

    Its consumer feeds ``health`` (a fresh :class:`ConnectionHealth` by default), which
    drives the worker's probes.
    """
    health = health or ConnectionHealth(bootstrap, settings.kafka.unreachable_liveness_s)
    sink = kafka_sink(settings, bootstrap)
    return ScoringWorker(settings, kafka_source(settings, bootstrap, health), sink, factory,
                         prometheus, stop_event, health)
