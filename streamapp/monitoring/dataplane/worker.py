"""The monitor's data plane: batch label join, durable state, summaries (confluent-kafka).

One thread runs :meth:`JoinWorker.run`: fetch a batch from prediction-log and
labels (co-partitioned; the ``range`` assignor gives partition p of both to
one member), drop labels outside the logged sample by the scorer's event-id
hash (before decoding or any state lookup), decode in bulk, join against the
partition's store, send the joined outcomes. Every ``checkpoint_interval_s``
a checkpoint makes the work durable without stopping the loop (one in flight):

1. seal: the partitions' writes since the last checkpoint are closed (still
   readable, new writes go to a fresh set), folded into summaries and produced
   to the changelog; consuming and joining go on;
2. when every outcome and dead letter sent before the seal and every changelog
   write is acknowledged, a marker (offsets, watermark, summaries) is produced
   on each changelog partition. Outcomes, dead letters and changelog writes go
   through two producers that report only failures, one per checkpoint in turn:
   a checkpoint's records are acknowledged once its producer's queue is empty
   (the next interval's records go to the other one), which saves a delivery
   report per record;
3. when the markers are acknowledged (the checkpoint is committed), the sealed
   writes go to the local store in one batch with the marker, the results are
   counted, the summaries sent and the consumer offsets committed
   (informational: the store's are the truth);
4. expiry runs at each seal against the event-time watermark (its writes join
   the next checkpoint).

A crash before 3 replays the inputs from the previous checkpoint (outcomes may
be sent again; state and summaries are not); a crash after 3 re-emits that
checkpoint's summaries, which the control plane applies once (by sequence).
:meth:`JoinWorker.checkpoint` does the same, waiting (rebalance, shutdown).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.deadletter import dead_letter_value
from streamapp.gc_tuning import tune_for_batches
from streamapp.kafka.commit import Ticket, TopicPartition
from streamapp.kafka.health import ConnectionHealth
from streamapp.kafka.sink import KafkaSink, delivery_failure
from streamapp.kafka.source import KafkaSource
from streamapp.metrics.monitoring import JoinMetrics
from streamapp.monitoring.dataplane.fold import Folder
from streamapp.monitoring.dataplane.join import JoinResult, expire, join_batch, now_utc
from streamapp.monitoring.dataplane.origin import cluster_view
from streamapp.monitoring.dataplane.partition import Meta, PartitionState, Restored, open_partitions
from streamapp.monitoring.dataplane.records import (
    decode_batch,
    decode_label,
    decode_prediction,
    encode,
    outcome,
)
from streamapp.monitoring.dataplane.sampled import SampleFilter
from streamapp.monitoring.dataplane.store import META_KEY, rocks_options
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.registry import ModelRegistry
from streamapp.statistics.summary import Summary

log = logging.getLogger(__name__)
MAX_PREDICTION_BYTES = 1 << 20
EXPIRE_LIMIT = 100_000
_EVENT_TIME = attrgetter("event_time")
LAG_SAMPLES = 64
"""Label lags observed per checkpoint and partition (the histogram is sampled)."""
VIEW_TIMEOUT_S = 30.0
"""How long assignment waits for the cluster id, topic ids and end offsets."""


class _MarkerTicket(Ticket[None]):
    """A ticket that also remembers the last acknowledged offset per partition."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        super().__init__({}, 0, 0, lambda _t: None)
        self.last: dict[int, int] = {}

    def delivered(self, err: Any, msg: Any) -> None:
        if err is None:
            self.last[msg.partition()] = max(self.last.get(msg.partition(), -1), msg.offset())
        super().delivered(err, msg)


@dataclass
class _Checkpoint:
    """A sealed checkpoint on its way to durability (see the module docstring)."""

    started: float
    outputs: list[Ticket[Any]]
    """Summaries sent before the seal (acknowledged per record)."""
    writes: list[Ticket[Any]]
    """Outcomes, dead letters and the changelog writes (on ``sink``, failures reported only)."""
    sink: KafkaSink
    """The producer of ``writes``; nothing else is sent on it until this checkpoint commits."""
    parts: dict[int, PartitionState] = field(default_factory=dict)
    metas: dict[int, Meta] = field(default_factory=dict)
    results: dict[int, JoinResult] = field(default_factory=dict)
    summaries: list[Summary] = field(default_factory=list)
    markers: dict[int, _MarkerTicket] | None = None


class JoinWorker:
    """The join data plane of one monitor process; :meth:`run` blocks until stopped."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        registry: CollectorRegistry = REGISTRY,
        stop_event: threading.Event | None = None,
        health: ConnectionHealth | None = None,
    ) -> None:
        self.settings = settings
        self.health = health
        self.mon = settings.monitoring
        self.topics = settings.topics
        self.bootstrap = bootstrap
        self.metrics = JoinMetrics(registry)
        self.stop_event = stop_event or threading.Event()
        self.folder = Folder(SpecCache(ModelRegistry(settings.model.registry)), self.mon.bucket_s)
        self.sample = SampleFilter(settings.sampling)
        self.options = rocks_options(self.mon.state_memory_mb)
        self.parts: dict[int, PartitionState] = {}
        self.tickets: list[Ticket[Any]] = []
        """Summaries sent since the last seal."""
        self.written: list[Ticket[Any]] = []
        """Outcomes and dead letters sent since the last seal (on the current epoch's sink)."""
        self.epoch = 0
        self.inflight: _Checkpoint | None = None
        self.ready = False
        self.fatal: BaseException | None = None
        self.conf = settings.kafka.librdkafka(bootstrap)
        self.stores: dict[int, dict[str, Any]] = {}
        """Per owned partition: how its store was opened (heartbeats, ``streamapp status``)."""

    # ---- lifecycle -------------------------------------------------------------------------
    def run(self) -> None:
        """Consume, join and checkpoint until the stop event; a final checkpoint on the way out."""
        tune_for_batches()
        self.sink = KafkaSink(self.conf, poll_when_full=True)
        """Markers, voids and summaries: a delivery report per record."""
        quiet = {**self.conf, "delivery.report.only.error": True}
        self.epochs = (KafkaSink(quiet, poll_when_full=True), KafkaSink(quiet, poll_when_full=True))
        """Outcomes, dead letters and changelog writes, one per checkpoint in turn (``_seal``)."""
        self.source = KafkaSource(
            {
                **self.conf,
                "group.id": self.mon.app_id,
                "partition.assignment.strategy": "range",
                "auto.offset.reset": "earliest",
                "session.timeout.ms": self.mon.session_timeout_ms,
                "heartbeat.interval.ms": self.mon.heartbeat_interval_ms,
                "fetch.wait.max.ms": 50,
            },
            [self.topics.prediction_log, self.topics.labels],
            self._on_assign, self._on_revoke, self._on_lost, self.health,
        )
        try:
            last = time.monotonic()
            while not self.stop_event.is_set():
                # what is queued now (a full batch is never waited for), or the first record
                msgs = self.source.fetch(self.mon.fetch_size, 0.0, 0.1)
                if msgs:
                    self._process(msgs)
                self._poll(0)
                self._advance()
                if (self.inflight is None
                        and time.monotonic() - last >= self.mon.checkpoint_interval_s):
                    last = time.monotonic()
                    parts = list(self.parts.values())
                    self._seal(parts)
                    self._expire(parts)
            self.checkpoint(list(self.parts.values()))
        except BaseException as exc:
            self.fatal = exc
            raise
        finally:
            self.ready = False
            try:
                self.source.close()
            except Exception:  # closing after a broker loss must not hide the first error
                log.exception("consumer close failed")
            for sink in (self.sink, *self.epochs):
                sink.flush(10)
            for part in self.parts.values():
                part.store.close()

    # ---- processing ------------------------------------------------------------------------
    def _process(self, msgs: list[Any]) -> None:
        """Join one fetched batch, partition by partition; send outcomes and dead letters."""
        log_topic, parts = self.topics.prediction_log, self.parts
        runs: dict[tuple[str, int], list[Any]] = {}
        for m in msgs:  # per topic and partition, in offset order (librdkafka keeps it)
            run = runs.get(tp := (m.topic(), m.partition()))
            if run is None:
                runs[tp] = [m]
            else:
                run.append(m)
        grouped: dict[int, tuple[list[Any], list[Any]]] = {}
        n_preds = n_labels = 0
        for (topic, p), run in runs.items():
            part = parts.get(p)
            if part is None:
                continue  # not ours
            done = part.consumed.get(topic, 0)
            if run[0].offset() < done:  # replayed after a restart: already in a checkpoint
                run = [m for m in run if m.offset() >= done]
            lists = grouped.get(p)
            if lists is None:
                lists = grouped[p] = ([], [])
            if topic == log_topic:
                lists[0].extend(run)
                n_preds += len(run)
            else:
                lists[1].extend(run)
                n_labels += len(run)
        self.metrics.consumed.labels("prediction").inc(n_preds)
        self.metrics.consumed.labels("label").inc(n_labels)
        now_mono = time.monotonic()
        for p, (raw_preds, raw_labels) in grouped.items():
            self._join(parts[p], raw_preds, raw_labels, now_mono)

    def _join(
        self, part: PartitionState, raw_preds: list[Any], raw_labels: list[Any], now_mono: float
    ) -> None:
        topics, mon = self.topics, self.mon
        for raw_list, topic in ((raw_preds, topics.prediction_log), (raw_labels, topics.labels)):
            if raw_list:
                part.consumed[topic] = raw_list[-1].offset() + 1
        kept, dropped, keyless = self.sample.by_key(raw_labels)
        preds = decode_batch(raw_preds, decode_prediction, MAX_PREDICTION_BYTES)
        labels = decode_batch(kept, decode_label, mon.max_label_bytes)
        label_pairs = list(zip(labels.items, labels.raw, strict=True))
        if keyless:  # decide on the event id
            label_pairs = [(lab, raw) for lab, raw in label_pairs if self.sample.keep(lab.event_id)]
            dropped += len(labels.items) - len(label_pairs)
        part.pending.counts["outside_sample"] += dropped
        latest = [max(map(_EVENT_TIME, preds.items))] if preds.items else []
        if label_pairs:
            latest.append(max(lab.label_time for lab, _ in label_pairs))
        if latest:
            part.event_time = max(part.event_time, max(latest).timestamp())
            part.last_arrival = now_mono
        result = join_batch(
            part.store, list(zip(preds.items, preds.raw, strict=True)), label_pairs,
            mon.label_ttl_s, part.event_time, self.settings.sampling.candidate_mode == "shadow",
        )
        out: list[tuple[str, bytes | None, bytes | None, Any]] = []
        joined_at = now_utc()
        keys = [pred.event_id.encode() for pred, _label in result.joined]
        values = [encode(outcome(pred, label, joined_at)) for pred, label in result.joined]
        for topic, rejected in ((topics.prediction_log, preds.rejected),
                                (topics.labels, labels.rejected)):
            for rej in rejected:
                body, headers = dead_letter_value(
                    rej.reason, rej.detail, (topic, part.partition, rej.offset), rej.value, rej.key
                )
                out.append((topics.dead_letter, rej.key, body, headers))
                part.pending.counts[f"dead:{topic}:{rej.reason.value}"] += 1
        if out or values:
            ticket: Ticket[None] = Ticket({}, 0, 0, lambda _t: None)
            self.epochs[self.epoch].send(
                ticket, out, columns=[(topics.joined_outcomes, keys, values)]
            )
            self.written.append(ticket)
        part.pending.extend(result)

    # ---- checkpoint ------------------------------------------------------------------------
    def checkpoint(self, parts: list[PartitionState]) -> None:
        """Make the work of ``parts`` durable now (rebalance, shutdown): waits for the
        checkpoint in flight, then seals ``parts`` and waits for that one too.

        A delivery that fails (after the idempotent producer's own retries) raises
        :class:`~streamapp.kafka.sink.DeliveryFailed`: the worker stops without
        writing the store, and the next owner replays from the last checkpoint.
        """
        self._finish()
        self._seal(parts)
        self._finish()

    def _seal(self, parts: list[PartitionState]) -> None:
        """Step 1: close the write sets of ``parts``, fold, produce the changelog writes."""
        todo = [p for p in parts if p.dirty()]
        if not todo:
            return
        # No checkpoint is in flight: the other epoch's sink is idle (its checkpoint committed).
        cp = _Checkpoint(time.perf_counter(), self.tickets, self.written, self.epochs[self.epoch])
        self.tickets, self.written, self.epoch = [], [], 1 - self.epoch
        changelog = self.mon.changelog_topic
        for part in todo:
            pend = part.pending
            seq = part.meta.seq + 1
            summaries = self.folder.fold(
                part.partition, seq, pend.first_seen, pend.joined, pend.expired, pend.pairs
            )
            cp.summaries.extend(summaries)
            held = dict(part.held)
            for kind, delta in pend.held_delta().items():
                held[kind] = held.get(kind, 0) + delta
            meta = Meta(seq, dict(part.consumed), part.event_time, held,
                        [s.to_json().decode() for s in summaries],
                        cluster=part.meta.cluster, topic_ids=part.meta.topic_ids)
            p = part.partition
            cp.parts[p], cp.metas[p], cp.results[p] = part, meta, pend
            # part.meta is the newest sealed checkpoint; the store's is the newest durable one
            part.meta, part.held, part.pending = meta, dict(held), JoinResult()
            part.store.seal()
            sealed = part.store.sealed or {}
            if sealed:
                ticket: Ticket[None] = Ticket({}, 0, 0, lambda _t: None)
                cp.sink.send(
                    ticket, columns=[(changelog, list(sealed), list(sealed.values()))], partition=p
                )
                cp.writes.append(ticket)
        self.inflight = cp

    def _advance(self) -> None:
        """Steps 2 and 3 of the checkpoint in flight, as far as its deliveries allow."""
        cp = self.inflight
        if cp is None:
            return
        if cp.markers is None:
            if not self._acked(cp.outputs) or not self._written(cp):
                return
            cp.markers = {}
            changelog = self.mon.changelog_topic
            for p, meta in cp.metas.items():
                marker = cp.markers[p] = _MarkerTicket()
                self.sink.send(marker, [(changelog, META_KEY, meta.to_json(), None)], partition=p)
        if not self._acked(list(cp.markers.values())):
            return
        self.inflight = None
        done: list[PartitionState] = []
        for p, part in cp.parts.items():
            if self.parts.get(p) is not part:
                continue  # lost meanwhile: the next owner restores from the changelog
            meta = cp.metas[p]
            meta.changelog_next = cp.markers[p].last[p] + 1
            part.store.write_sealed(meta.to_json())
            part.durable_held = dict(meta.held)
            self._account(cp.results[p])
            self._gauges(part)
            done.append(part)
        self._emit(cp.summaries)
        positions: dict[TopicPartition, int] = {
            (t, part.partition): o for part in done
            for t, o in cp.metas[part.partition].offsets.items()
        }
        try:
            self.source.commit(positions, asynchronous=True)
        except Exception as exc:  # the store's offsets are the truth; the next commit carries it
            log.warning("offset commit failed: %s", exc)
        self.metrics.checkpoint.observe(time.perf_counter() - cp.started)

    def _finish(self) -> None:
        """Wait until the checkpoint in flight is committed."""
        while self.inflight is not None:
            self._poll(0.01)
            self._advance()

    def _acked(self, tickets: list[Ticket[Any]]) -> bool:
        """All acknowledged? A failed delivery is final (the idempotent producer retried it):
        raises :class:`~streamapp.kafka.sink.DeliveryFailed`."""
        done = True
        for ticket in tickets:
            if ticket.failed:
                raise delivery_failure(ticket)
            done = done and ticket.done
        return done

    def _written(self, cp: _Checkpoint) -> bool:
        """The checkpoint's outcomes, dead letters and changelog writes all acknowledged?
        Their producer reports only failures (final, raised as in :meth:`_acked`; served by
        :meth:`_poll`, which runs before every call) and takes nothing new until the
        checkpoint commits: none failed and its queue is empty."""
        for ticket in cp.writes:
            if ticket.failed:
                raise delivery_failure(ticket)
        return cp.sink.idle()

    def _poll(self, timeout: float) -> None:
        """Serve delivery reports of every producer (``timeout`` on the one reporting all)."""
        for quiet in self.epochs:
            quiet.poll(0)
        self.sink.poll(timeout)

    def _expire(self, parts: list[PartitionState]) -> None:
        """Timer: expire entries due at each partition's watermark (right after a seal, with
        an empty write set); the results join the next checkpoint."""
        now_mono = time.monotonic()
        for part in parts:
            if part.store.dirty:
                continue
            part.pending.extend(
                expire(part.store, part.watermark(now_mono), self.mon.label_ttl_s, EXPIRE_LIMIT)
            )
            self._gauges(part)

    def _emit(self, summaries: list[Summary]) -> None:
        """Send summaries (acknowledged by the next checkpoint)."""
        if not summaries:
            return
        ticket: Ticket[None] = Ticket({}, 0, 0, lambda _t: None)
        topic = self.topics.monitoring_summaries
        self.sink.send(ticket, [(topic, s.key, s.to_json(), None) for s in summaries])
        self.tickets.append(ticket)
        self.metrics.summaries.inc(len(summaries))

    # ---- metrics ---------------------------------------------------------------------------
    def _account(self, pend: JoinResult) -> None:
        """Count a checkpoint's results (once durable: a replay never counts twice)."""
        m = self.metrics
        joins: dict[tuple[str, str, str], int] = defaultdict(int)
        for pred, _label in pend.joined:
            joins[(pred.model_name, pred.model_version, pred.variant)] += 1
        step = max(1, len(pend.joined) // LAG_SAMPLES)
        for pred, label in pend.joined[::step]:  # a sample: the histogram shows the shape
            lag = (label.label_time - pred.event_time).total_seconds()
            m.lag.labels(pred.model_name).observe(max(lag, 0.0))
        for key, n in joins.items():
            m.joins.labels(*key).inc(n)
        expired: dict[tuple[str, str], int] = defaultdict(int)
        for pred in pend.expired:
            expired[(pred.model_name, pred.model_version)] += 1
        for key2, n in expired.items():
            m.expired.labels(*key2).inc(n)
        c = pend.counts
        m.late.inc(c["late_label"])
        m.unmatched.inc(c["unmatched_label"])
        m.outside_sample.inc(c["outside_sample"])
        m.duplicates.labels("prediction").inc(c["duplicate_prediction"])
        m.duplicates.labels("label").inc(c["duplicate_label"])
        for name, n in c.items():
            if name.startswith("dead:") and n:
                _, topic, reason = name.split(":", 2)
                kind = "prediction" if topic == self.topics.prediction_log else "label"
                m.dead_letter.labels(kind, reason).inc(n)
                m.malformed.inc(n)

    def _gauges(self, part: PartitionState) -> None:
        m, label = self.metrics, str(part.partition)
        keys, nbytes = part.store.stats()
        m.state_keys.labels(label).set(keys)
        m.state_bytes.labels(label).set(nbytes)
        for kind in ("prediction", "label"):
            m.held.labels(label, kind).set(part.durable_held.get(kind, 0))
        if part.event_time:
            m.watermark_lag.labels(label).set(max(0.0, time.time() - part.event_time))

    # ---- rebalance hooks (run inside fetch, on this thread) ---------------------------------
    def _on_assign(self, tps: list[TopicPartition]) -> None:
        """Open (and restore) the stores of newly assigned partitions; re-emit their summaries.

        Asks the cluster first what the stores must belong to (its id, the topic ids,
        the partitions' ends): a store that cannot belong to it is rebuilt, never
        used to skip input (:mod:`.partition`). Blocks until every store caught up
        with its changelog; a restore that cannot finish raises and stops the worker
        (the group reassigns).
        """
        new = sorted({p for _, p in tps} - set(self.parts))
        started = time.perf_counter()
        topics = (self.topics.prediction_log, self.topics.labels, self.mon.changelog_topic)
        opened = open_partitions(
            {p: self.mon.state_dir / self.mon.app_id / str(p) for p in new}, self.options,
            {**self.conf, "group.id": f"{self.mon.app_id}-restore"}, self.mon.changelog_topic,
            cluster_view(self.conf, topics, new, VIEW_TIMEOUT_S),
        )
        if new:
            self.metrics.restore.observe(time.perf_counter() - started)
        for p, found in opened.items():
            part = found.state
            self._void(part, found.orphans)
            self.parts[p] = part
            self._emit([Summary.from_json(s.encode()) for s in part.meta.summaries])
            self._gauges(part)
            self._opened(found)
            log.info("join partition %d ready at checkpoint %d (from %s, held=%s)",
                     p, part.meta.seq, found.source, part.held,
                     extra={"partition": p, "seq": part.meta.seq, "source": found.source})
        self.ready = True

    def _opened(self, found: Restored) -> None:
        """Count discarded checkpoints and record the store's health for the heartbeat."""
        for store, why in found.discarded.items():
            self.metrics.store_discarded.labels(why.reason.value, store).inc()
        p = found.state.partition
        self.stores[p] = {
            "partition": p,
            "health": "rebuilt" if found.discarded else "ok",
            "source": found.source,
            "discarded": "; ".join(f"{store} {why.reason.value} ({why.detail})"
                                   for store, why in found.discarded.items()) or None,
            "seq": found.state.meta.seq,
            "opened_at": now_utc().isoformat(timespec="seconds"),
        }

    def store_health(self) -> list[dict[str, Any]]:
        """How each owned partition's store was opened (any thread: a copy)."""
        return [dict(row) for row in list(self.stores.values())]

    def _void(self, part: PartitionState, keys: list[bytes]) -> None:
        """Overwrite a previous owner's unmarked changelog writes with the restored values
        and mark them, so no later restore applies them (see :mod:`.partition`).

        Waits for the acknowledgements; a failed delivery raises (the worker stops and
        the next owner voids them)."""
        if not keys:
            return
        p, changelog = part.partition, self.mon.changelog_topic
        values = [None if v is None else bytes(v) for v in part.store.db.get(keys)]
        writes: Ticket[None] = Ticket({}, 0, 0, lambda _t: None)
        self.sink.send(writes, columns=[(changelog, keys, values)], partition=p)
        marker = _MarkerTicket()
        self.sink.send(marker, [(changelog, META_KEY, part.meta.to_json(), None)], partition=p)
        while not self._acked([writes, marker]):
            self.sink.poll(0.01)
        part.meta.changelog_next = marker.last[p] + 1
        part.store.commit(part.meta.to_json())
        self.metrics.voided.inc(len(keys))

    def _on_revoke(self, tps: list[TopicPartition]) -> None:
        """Checkpoint the revoked partitions, commit their offsets, close their stores."""
        gone = [self.parts[p] for p in sorted({p for _, p in tps}) if p in self.parts]
        self.checkpoint(gone)
        positions = {(t, part.partition): o for part in gone for t, o in part.meta.offsets.items()}
        try:
            self.source.commit(positions, asynchronous=False)
        except Exception as exc:
            log.warning("commit on revoke failed: %s", exc)
        self._close(gone)

    def _on_lost(self, tps: list[TopicPartition]) -> None:
        """Partitions lost without a revoke: drop unsaved work; the next owner replays it.

        A checkpoint in flight sends no marker for them any more if it has not yet (its
        writes without a marker are discarded on restore); if the markers are out, it is
        waited for, so a later restore here cannot miss a marker still on its way.
        """
        lost = [self.parts[p] for p in sorted({p for _, p in tps}) if p in self.parts]
        cp = self.inflight
        if cp is not None and cp.markers is None:
            for part in lost:
                cp.parts.pop(part.partition, None)
                cp.metas.pop(part.partition, None)
                cp.results.pop(part.partition, None)
            cp.summaries = [s for s in cp.summaries if s.partition in cp.parts]
        elif cp is not None and any(part.partition in cp.parts for part in lost):
            self._finish()
        self._close(lost)

    def _close(self, parts: list[PartitionState]) -> None:
        for part in parts:
            part.store.close()
            del self.parts[part.partition]
            self.stores.pop(part.partition, None)
        if not self.parts:
            self.ready = False


def kafka_join_worker(
    settings: Settings,
    bootstrap: str,
    registry: CollectorRegistry = REGISTRY,
    stop_event: threading.Event | None = None,
    health: ConnectionHealth | None = None,
) -> JoinWorker:
    """The join worker over the cluster at ``bootstrap`` (what the monitor role runs)."""
    return JoinWorker(settings, bootstrap, registry, stop_event, health)
