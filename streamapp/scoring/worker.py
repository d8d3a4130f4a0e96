"""The scoring worker: wires source → decode → scorer pool → sink → commits.

Threads: the main loop fetches, decodes, polls the producer (delivery
callbacks), commits and applies backpressure; a pool of ``scorer_threads``
runs inference (GIL released) and produces the outputs; the model watcher
hot-reloads in the background. Offsets are committed only for contiguous
ranges whose every prediction / log / dead-letter record was acknowledged.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.http import HealthServer
from streamapp.kafka.commit import OffsetTracker, Ticket, TopicPartition
from streamapp.kafka.sink import DeliveryFailed, KafkaSink
from streamapp.kafka.source import KafkaSource
from streamapp.metrics.common import ModelMetrics
from streamapp.metrics.scoring import ScoringMetrics
from streamapp.registry.registry import ModelRegistry, ModelVersion, RegistryError
from streamapp.runtime.base import ModelLoadError, ScoringModel
from streamapp.scoring.batcher import AdaptiveBatcher, BatchRequest
from streamapp.scoring.decode import DecodedBatch, Record
from streamapp.scoring.reload import ModelFactory, ModelWatcher, Slots
from streamapp.scoring.router import Routed, Router

log = logging.getLogger(__name__)
_E2E_SAMPLES = 64


def default_factory(settings: Settings) -> ModelFactory:
    """``load_model`` with the configured runtime, device and intra-op threads (lazy import)."""

    m = settings.model
    runtimes = m.runtime_registry()

    def factory(version: ModelVersion) -> ScoringModel:
        from streamapp.runtime.loader import load_model

        threads = settings.scoring.intra_op_threads
        return load_model(version, m.runtime, m.device, threads, runtimes)

    return factory


class ScoringWorker:
    """One ``streamapp score`` process worth of state; :meth:`run` blocks until stopped."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        factory: ModelFactory | None = None,
        registry: CollectorRegistry = REGISTRY,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.cfg = settings.scoring
        self.bootstrap = bootstrap
        self.metrics = ScoringMetrics(registry)
        self.model_metrics = ModelMetrics(registry)
        self.prom_registry = registry
        self.stop_event = stop_event or threading.Event()
        self.factory = factory or default_factory(settings)
        self.router = Router(settings.topics, settings.sampling)
        self.tracker = OffsetTracker()
        self.batcher = AdaptiveBatcher(
            self.cfg.max_batch_size, self.cfg.max_wait_ms / 1000, self.cfg.latency_target_ms / 1000
        )
        self.completed: deque[Ticket] = deque()
        self.inflight: set[Ticket] = set()
        """Tickets whose outputs are not all acknowledged yet."""
        self.uncommitted: list[Ticket] = []
        """Acknowledged tickets whose offsets are not committed yet (still count as in flight)."""
        self.inflight_events = 0
        self.inflight_bytes = 0
        self.fatal: BaseException | None = None
        self.ready = False
        self.http: HealthServer | None = None
        self._committed: dict[TopicPartition, int] = {}
        self._pending_commit: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self._last_lag = 0.0
        self.exactly_once = self.cfg.processing_guarantee == "exactly_once"

    # ---- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until the stop event (SIGTERM) or a fatal error; 0 after a clean drain."""
        s = self.settings
        try:
            watcher = ModelWatcher(
                ModelRegistry(s.model.registry), s.model.name, self.factory, self.model_metrics,
                self.cfg.max_event_bytes, s.model.pointer,
                s.model.candidate_pointer if s.sampling.candidate_mode != "off" else None,
                self.cfg.reload_poll_ms / 1000,
            )
        except (RegistryError, ModelLoadError) as exc:
            log.error("cannot load the serving model: %s", exc)
            return 1
        self.watcher = watcher.start()
        self.http = HealthServer(s.http.host, s.http.port, self.prom_registry, lambda: self.ready)
        self.http.start()
        log.info("scoring worker metrics at %s/metrics", self.http.url,
                 extra={"metrics_url": self.http.url})
        conf = s.kafka.librdkafka(self.bootstrap)
        try:
            self.sink = self._make_sink(conf)
            self.source = self._make_source(conf)
        except Exception:  # bad librdkafka config: stop what was started, then re-raise
            self.watcher.stop()
            self.http.stop()
            raise
        self.pool = ThreadPoolExecutor(self.cfg.scorer_threads, thread_name_prefix="scorer")
        try:
            self._loop()
        finally:
            code = self._shutdown()
        return code

    def _make_sink(self, conf: dict[str, Any]) -> KafkaSink:
        """The producer side (tests override this with an in-memory sink)."""
        if not self.exactly_once:
            return KafkaSink(conf)
        txn_id = self.cfg.transactional_id or f"{self.cfg.group_id}-{uuid.uuid4().hex}"
        log.info("exactly-once: transactional id %s", txn_id, extra={"transactional_id": txn_id})
        return KafkaSink(
            conf, transactional_id=txn_id, transaction_timeout_ms=self.cfg.transaction_timeout_ms
        )

    def _make_source(self, conf: dict[str, Any]) -> KafkaSource:
        """The consumer side (tests override this with an in-memory source)."""
        return KafkaSource(
            {
                **conf,
                "group.id": self.cfg.group_id,
                "auto.offset.reset": self.cfg.auto_offset_reset,
                "session.timeout.ms": self.cfg.session_timeout_ms,
                "heartbeat.interval.ms": self.cfg.heartbeat_interval_ms,
                "queued.max.messages.kbytes": self.cfg.fetch_queue_kbytes,
                "fetch.wait.max.ms": self.cfg.fetch_wait_max_ms,
            },
            self.settings.topics.events, self._on_assign, self._on_revoke, self._on_lost,
        )

    def _loop(self) -> None:
        source, batcher = self.source, self.batcher
        topic_counter = self.metrics.consumed.labels(topic=self.settings.topics.events)
        while not self.stop_event.is_set() and self.fatal is None:
            self._service()
            req = BatchRequest(1, 0.05) if source.paused else batcher.next_request()
            started = time.monotonic()
            msgs = source.fetch(req.size, req.timeout_s)
            if not source.paused:
                batcher.observe(len(msgs), time.monotonic() - started)
            if msgs:
                topic_counter.inc(len(msgs))
                self._submit(msgs)

    def _shutdown(self) -> int:
        """Stop fetching, drain in-flight work, commit, leave the group."""
        self.ready = False
        log.info("draining %d in-flight events", self.inflight_events)
        self._drain(lambda: bool(self.inflight), self.cfg.drain_timeout_s)
        self._commit(asynchronous=False)
        try:
            self.source.close()
        except Exception:  # closing after a broker loss must not hide the exit code
            log.exception("consumer close failed")
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.sink.flush(5)
        self.watcher.stop()
        if self.http is not None:
            self.http.stop()
        if self.fatal is not None:
            log.error("scoring worker stopped on a fatal error: %s", self.fatal)
            return 1
        return 0

    # ---- pipeline --------------------------------------------------------------------------

    def _submit(self, msgs: list[Any]) -> None:
        """Decode in this thread, then score + produce in the pool."""
        segments: dict[TopicPartition, tuple[int, int]] = {}
        nbytes = 0
        for m in msgs:
            tp = (m.topic(), m.partition())
            off = m.offset()
            seg = segments.get(tp)
            segments[tp] = (off, off) if seg is None else (seg[0], off)
            nbytes += len(m)
        ticket = Ticket(segments, len(msgs), nbytes, self.completed.append, time.monotonic())
        self.tracker.add(ticket)
        self.inflight.add(ticket)
        self.inflight_events += ticket.events
        self.inflight_bytes += nbytes
        slots = self.watcher.slots
        records: list[Record] = msgs
        batch = slots.decoder.decode(records)
        future = self.pool.submit(self._score, ticket, batch, slots)
        future.add_done_callback(self._check_future)

    def _score(self, ticket: Ticket, batch: DecodedBatch, slots: Slots) -> None:
        """Scorer-pool thread: route the batch through the models and produce its outputs."""
        routed = self.router.route(batch, slots.primary, slots.candidate)
        for name, version, seconds, rows in routed.inference:
            self.metrics.inference.labels(model=name, version=version).observe(seconds)
            self.metrics.batch_size.labels(model=name).observe(rows)
            self.batcher.observe_inference(rows, seconds)
        ticket.payload = (routed, batch.event_dts)
        self.sink.send(ticket, routed.records)

    def _check_future(self, future: Future[None]) -> None:
        exc = future.exception()
        if exc is not None and self.fatal is None:
            log.error("scoring batch failed: %r", exc)
            self.fatal = exc

    def _service(self) -> None:
        """Main-loop housekeeping: deliveries, completed tickets, commits, backpressure, lag."""
        self.sink.poll(0)
        for ticket in list(self.inflight):
            if ticket.failed:
                self._retry(ticket)
        self._reap()
        now = time.monotonic()
        if now - self._last_commit >= self.cfg.commit_interval_ms / 1000:
            self._commit(asynchronous=True)
            self._last_commit = now
        cfg, source = self.cfg, self.source
        over = self.inflight_events >= cfg.max_inflight_events or (
            self.inflight_bytes >= cfg.max_inflight_bytes
        )
        if over and not source.paused:
            source.pause()
            self.metrics.pauses.inc()
            self.metrics.paused.set(len(source.assigned))
        elif source.paused and self.inflight_events <= cfg.resume_events and (
            self.inflight_bytes <= cfg.resume_bytes
        ):
            source.resume()
            self.metrics.paused.set(0)
        self.metrics.inflight_events.set(self.inflight_events)
        self.metrics.inflight_bytes.set(self.inflight_bytes)
        if now - self._last_lag >= 1.0:
            self._last_lag = now
            for (topic, part), lag in source.lag().items():
                self.metrics.lag.labels(topic=topic, partition=str(part)).set(lag)

    def _retry(self, ticket: Ticket) -> None:
        try:
            for topic in self.sink.retry(ticket):
                self.metrics.delivery_errors.labels(topic=topic).inc()
        except DeliveryFailed as exc:
            self.fatal = exc

    def _reap(self) -> None:
        """Account completed tickets: metrics, in-flight counters, commit positions."""
        if not self.completed:
            return
        m = self.metrics
        now = time.time()
        while self.completed:
            ticket = self.completed.popleft()
            self.inflight.discard(ticket)
            self.uncommitted.append(ticket)
            routed: Routed
            routed, event_dts = ticket.payload
            for (name, version, variant), n in routed.predictions.items():
                m.predictions.labels(model=name, version=version, variant=variant).inc(n)
            for (name, version, variant), n in routed.logged.items():
                m.logged.labels(model=name, version=version, variant=variant).inc(n)
            for reason, n in routed.dead.items():
                m.dead_letter.labels(reason=reason).inc(n)
            for (name, version), n in routed.shadow_failures.items():
                m.shadow_failures.labels(model=name, version=version).inc(n)
            if event_dts:
                e2e = m.e2e.labels(model=self.settings.model.name)
                step = max(1, len(event_dts) // _E2E_SAMPLES)
                for dt in event_dts[::step]:
                    e2e.observe(max(0.0, now - dt.timestamp()))
        self._pending_commit.update(self.tracker.advance())

    def _commit(self, asynchronous: bool) -> None:
        if self.exactly_once:
            self._commit_transaction()
            return
        self._reap()
        todo = {tp: o for tp, o in self._pending_commit.items() if self._committed.get(tp) != o}
        self._pending_commit.clear()
        if todo:
            try:
                if self.source.commit(todo, asynchronous=asynchronous):
                    self.metrics.commits.inc()
                self._committed.update(todo)
            except Exception as exc:  # e.g. a rebalance in progress: the next commit carries it
                log.warning("commit failed (will retry): %s", exc)
                self._pending_commit.update(todo)
        self._release()

    def _commit_transaction(self) -> None:
        """exactly_once: finish every in-flight batch, then commit outputs + offsets atomically.

        A batch that does not finish within ``drain_timeout_s`` or a commit that fails
        aborts the transaction and stops the worker (exit 1): its restart replays from
        the last committed offsets, and read_committed consumers never see the aborted
        records.
        """
        if self.fatal is not None:  # never commit after a failure: the restart replays
            return
        if not self._drain(lambda: bool(self.inflight), self.cfg.drain_timeout_s):
            if self.fatal is None:
                self.fatal = RuntimeError("in-flight batches did not finish; transaction aborted")
            self.sink.abort_transaction()
            return
        todo = {tp: o for tp, o in self._pending_commit.items() if tp in self.source.assigned}
        self._pending_commit.clear()
        try:
            self.sink.commit_transaction(todo, self.source.group_metadata())
        except Exception as exc:  # KafkaException: aborted when it could be
            log.error("transaction commit failed: %s", exc)
            self.fatal = exc
            return
        if todo:
            self.metrics.commits.inc()
        self._committed.update(todo)
        self._release()

    def _release(self) -> None:
        """Stop counting acknowledged tickets whose offsets are committed (or no longer ours)."""
        if not self.uncommitted:
            return
        assigned, committed = self.source.assigned, self._committed
        keep: list[Ticket] = []
        for ticket in self.uncommitted:
            if all(
                tp not in assigned or committed.get(tp, -1) > last
                for tp, (_first, last) in ticket.segments.items()
            ):
                self.inflight_events -= ticket.events
                self.inflight_bytes -= ticket.nbytes
            else:
                keep.append(ticket)
        self.uncommitted = keep

    def _drain(self, busy: Any, timeout: float) -> bool:
        """Poll deliveries until ``busy()`` is false or ``timeout`` passes; True when drained."""
        deadline = time.monotonic() + timeout
        while busy() and time.monotonic() < deadline and self.fatal is None:
            self.sink.poll(0.01)
            for ticket in list(self.inflight):
                if ticket.failed:
                    self._retry(ticket)
            self._reap()
        return not busy()

    # ---- rebalance hooks (run inside fetch, on the main thread) -----------------------------

    def _on_assign(self, tps: list[TopicPartition]) -> None:
        self.metrics.rebalances.labels(kind="assign").inc()
        log.info("assigned %s", sorted(p for _, p in tps))
        self.ready = True

    def _on_revoke(self, tps: list[TopicPartition]) -> None:
        """Finish in-flight work of the revoked partitions, commit it, forget them."""
        self.metrics.rebalances.labels(kind="revoke").inc()
        if self.exactly_once:  # the open transaction must commit while we own the partitions
            self._commit_transaction()
        drained = self._drain(lambda: self.tracker.pending(tps) > 0, self.cfg.drain_timeout_s)
        self._pending_commit.update(self.tracker.advance())
        revoked = {tp: o for tp, o in self._pending_commit.items() if tp in set(tps)}
        if revoked:
            try:
                self.source.commit(revoked, asynchronous=False)
                self.metrics.commits.inc()
            except Exception as exc:
                log.warning("commit on revoke failed: %s", exc)
        for tp in tps:
            self._pending_commit.pop(tp, None)
            self._committed.pop(tp, None)
            self.source.assigned.discard(tp)
        self.tracker.forget(tps)
        self._release()
        log.info("revoked %s (drained=%s)", sorted(p for _, p in tps), drained)

    def _on_lost(self, tps: list[TopicPartition]) -> None:
        """Partitions lost without a clean revoke: do not commit, the new owner replays.

        exactly_once: the open transaction holds outputs of the lost partitions, so it
        is aborted and the worker stops (exit 1) to replay from committed offsets.
        """
        self.metrics.rebalances.labels(kind="lost").inc()
        if self.exactly_once and self.fatal is None:
            self.sink.abort_transaction()
            lost = sorted(p for _, p in tps)
            self.fatal = RuntimeError(f"partitions {lost} lost mid-transaction")
        for tp in tps:
            self._pending_commit.pop(tp, None)
            self._committed.pop(tp, None)
            self.source.assigned.discard(tp)
        self.tracker.forget(tps)
        self._release()
        log.warning("lost %s", sorted(p for _, p in tps))


def run_worker(
    settings: Settings,
    stop_event: threading.Event | None = None,
    factory: ModelFactory | None = None,
    registry: CollectorRegistry = REGISTRY,
    install_signals: bool = False,
) -> int:
    """Run a scoring worker until ``stop_event`` is set (or SIGTERM/SIGINT); returns the exit code.

    Uses ``kafka.bootstrap_servers`` when set; otherwise starts a local broker
    (and creates the configured topics) for the lifetime of the worker. Raises
    :class:`~streamapp.kafka.credentials.KafkaAuthError` within seconds when the
    cluster rejects the credentials; an unreachable cluster is retried.
    """
    from streamapp.kafka.credentials import check_credentials
    from streamapp.kafka.embedded import kafka_bootstrap
    from streamapp.kafka.topics import ensure_topics

    stop = stop_event or threading.Event()
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    with kafka_bootstrap(settings) as servers:
        if not check_credentials(settings.kafka.librdkafka(servers)):
            log.warning("Kafka not reachable yet at %s; retrying", servers)
        if not settings.kafka.bootstrap_servers:
            ensure_topics(settings.kafka.librdkafka(servers), settings.topics.all_topics())
            log.info("local broker at %s (export STREAMAPP_KAFKA__BOOTSTRAP_SERVERS=%s)",
                     servers, servers)
        return ScoringWorker(settings, servers, factory, registry, stop).run()
