"""The monitor's data plane: batch label join, durable state, summaries (confluent-kafka).

One thread runs :meth:`JoinWorker.run`: fetch a batch from prediction-log and
labels (co-partitioned; the ``range`` assignor gives partition p of both to
one member), drop labels outside the logged sample by the scorer's event-id
hash (before decoding or any state lookup), decode in bulk, join against the
partition's store, send the joined outcomes. Every ``checkpoint_interval_s``
:meth:`JoinWorker.checkpoint` makes the work durable in this order:

1. every outcome and dead letter sent so far is acknowledged;
2. the store writes and a marker (offsets, watermark, summaries) are acknowledged
   on the changelog partition: the checkpoint is committed;
3. the local store is written in one batch; the summaries are sent;
   the consumer offsets are committed (informational: the store's are the truth);
4. expiry runs against the event-time watermark (its writes join the next checkpoint).

A crash before 2 replays the inputs from the previous checkpoint (outcomes may
be sent again; state and summaries are not); a crash after 2 re-emits that
checkpoint's summaries, which the control plane applies once (by sequence).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.deadletter import dead_letter_value
from streamapp.kafka.commit import Ticket, TopicPartition
from streamapp.kafka.health import ConnectionHealth
from streamapp.kafka.sink import KafkaSink
from streamapp.kafka.source import KafkaSource
from streamapp.metrics.monitoring import JoinMetrics
from streamapp.monitoring.fold import Folder
from streamapp.monitoring.join import JoinResult, expire, join_batch, now_utc
from streamapp.monitoring.partition import Meta, PartitionState, open_partitions
from streamapp.monitoring.records import (
    decode_batch,
    decode_label,
    decode_prediction,
    encode,
    outcome,
)
from streamapp.monitoring.sampled import SampleFilter
from streamapp.monitoring.spec import SpecCache
from streamapp.monitoring.store import META_KEY, rocks_options
from streamapp.monitoring.summary import Summary
from streamapp.registry.registry import ModelRegistry

log = logging.getLogger(__name__)
MAX_PREDICTION_BYTES = 1 << 20
EXPIRE_LIMIT = 100_000
LAG_SAMPLES = 64
"""Label lags observed per checkpoint and partition (the histogram is sampled)."""


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
        """Sent, not yet acknowledged: outcomes, dead letters, summaries."""
        self.ready = False
        self.fatal: BaseException | None = None
        self.conf = settings.kafka.librdkafka(bootstrap)

    # ---- lifecycle -------------------------------------------------------------------------
    def run(self) -> None:
        """Consume, join and checkpoint until the stop event; a final checkpoint on the way out."""
        self.sink = KafkaSink({**self.conf, "enable.idempotence": True}, poll_when_full=True)
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
                msgs = self.source.fetch(self.mon.fetch_size, 0.1)
                if msgs:
                    self._process(msgs)
                self.sink.poll(0)
                if time.monotonic() - last >= self.mon.checkpoint_interval_s:
                    self.checkpoint(list(self.parts.values()))
                    self._expire(list(self.parts.values()))
                    last = time.monotonic()
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
            self.sink.flush(10)
            for part in self.parts.values():
                part.store.close()

    # ---- processing ------------------------------------------------------------------------
    def _process(self, msgs: list[Any]) -> None:
        """Join one fetched batch, partition by partition; send outcomes and dead letters."""
        log_topic, parts = self.topics.prediction_log, self.parts
        grouped: dict[int, tuple[list[Any], list[Any]]] = {}
        n_preds = 0
        for m in msgs:
            p = m.partition()
            part = parts.get(p)
            topic = m.topic()
            if part is None or m.offset() < part.consumed.get(topic, 0):
                continue  # not ours, or already in a checkpoint (replayed after a restart)
            lists = grouped.get(p)
            if lists is None:
                lists = grouped[p] = ([], [])
            if topic == log_topic:
                lists[0].append(m)
                n_preds += 1
            else:
                lists[1].append(m)
        self.metrics.consumed.labels("prediction").inc(n_preds)
        self.metrics.consumed.labels("label").inc(len(msgs) - n_preds)
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
        kept, dropped = self.sample.by_key(raw_labels)
        preds = decode_batch(raw_preds, decode_prediction, MAX_PREDICTION_BYTES)
        labels = decode_batch(kept, decode_label, mon.max_label_bytes)
        label_pairs = list(zip(labels.items, labels.raw, strict=True))
        if any(m.key() is None for m in kept):  # keyless labels: decide on the event id
            label_pairs = [(lab, raw) for lab, raw in label_pairs if self.sample.keep(lab.event_id)]
            dropped += len(labels.items) - len(label_pairs)
        part.pending.counts["outside_sample"] += dropped
        times = [p.event_time.timestamp() for p in preds.items]
        times += [lab.label_time.timestamp() for lab, _ in label_pairs]
        if times:
            part.event_time = max(part.event_time, max(times))
            part.last_arrival = now_mono
        result = join_batch(
            part.store, list(zip(preds.items, preds.raw, strict=True)), label_pairs,
            mon.label_ttl_s, part.event_time,
        )
        out: list[tuple[str, bytes | None, bytes | None, Any]] = []
        joined_at = now_utc()
        for pred, label in result.joined:
            out.append((topics.joined_outcomes, pred.event_id.encode(),
                        encode(outcome(pred, label, joined_at)), None))
        for topic, rejected in ((topics.prediction_log, preds.rejected),
                                (topics.labels, labels.rejected)):
            for rej in rejected:
                body, headers = dead_letter_value(
                    rej.reason, rej.detail, (topic, part.partition, rej.offset), rej.value, rej.key
                )
                out.append((topics.dead_letter, rej.key, body, headers))
                part.pending.counts[f"dead:{topic}:{rej.reason.value}"] += 1
        if out:
            ticket: Ticket[None] = Ticket({}, 0, 0, lambda _t: None)
            self.sink.send(ticket, out)
            self.tickets.append(ticket)
        part.pending.extend(result)

    # ---- checkpoint ------------------------------------------------------------------------
    def checkpoint(self, parts: list[PartitionState]) -> None:
        """Make the work of ``parts`` durable (see the module docstring); then run expiry.

        A delivery that fails after the sink's retries raises
        :class:`~streamapp.kafka.sink.DeliveryFailed`: the worker stops without
        writing the store, and the next owner replays from the last checkpoint.
        """
        todo = [p for p in parts if p.dirty()]
        if not todo:
            return
        started = time.perf_counter()
        self._wait(self.tickets)
        self.tickets = []
        changelog = self.mon.changelog_topic
        metas: dict[int, Meta] = {}
        emitted: list[Summary] = []
        markers: dict[int, _MarkerTicket] = {}
        for part in todo:
            pend = part.pending
            seq = part.meta.seq + 1
            summaries = self.folder.fold(
                part.partition, seq, pend.first_seen, pend.joined, pend.expired
            )
            emitted.extend(summaries)
            held = dict(part.held)
            for kind, delta in pend.held_delta().items():
                held[kind] = held.get(kind, 0) + delta
            meta = metas[part.partition] = Meta(
                seq, dict(part.consumed), part.event_time, held,
                [s.to_json().decode() for s in summaries],
            )
            recs: list[tuple[str, bytes | None, bytes | None, Any]] = [
                (changelog, k, v, None) for k, v in part.store.dirty.items()
            ]
            recs.append((changelog, META_KEY, meta.to_json(), None))
            markers[part.partition] = _MarkerTicket()
            self.sink.send(markers[part.partition], recs, partition=part.partition)
        self._wait(list(markers.values()))
        for part in todo:
            meta = metas[part.partition]
            meta.changelog_next = markers[part.partition].last[part.partition] + 1
            part.store.commit(meta.to_json())
            self._account(part)
            part.meta, part.held, part.pending = meta, dict(meta.held), JoinResult()
        self._emit(emitted)
        positions: dict[TopicPartition, int] = {
            (t, part.partition): o for part in todo for t, o in part.meta.offsets.items()
        }
        try:
            self.source.commit(positions, asynchronous=True)
        except Exception as exc:  # the store's offsets are the truth; the next commit carries it
            log.warning("offset commit failed: %s", exc)
        self.metrics.checkpoint.observe(time.perf_counter() - started)

    def _expire(self, parts: list[PartitionState]) -> None:
        """Timer: expire entries due at each partition's watermark (right after a checkpoint,
        so the stores hold no unwritten state); the results join the next checkpoint."""
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

    def _wait(self, tickets: list[Ticket[Any]]) -> None:
        """Serve deliveries until every ticket is acknowledged; re-send failures."""
        while True:
            for ticket in tickets:
                if ticket.failed:
                    self.sink.retry(ticket)
            if all(t.done for t in tickets):
                return
            self.sink.poll(0.01)

    # ---- metrics ---------------------------------------------------------------------------
    def _account(self, part: PartitionState) -> None:
        """Count a checkpoint's results (once durable: a replay never counts twice)."""
        m, pend = self.metrics, part.pending
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
            m.held.labels(label, kind).set(part.held.get(kind, 0))
        if part.event_time:
            m.watermark_lag.labels(label).set(max(0.0, time.time() - part.event_time))

    # ---- rebalance hooks (run inside fetch, on this thread) ---------------------------------
    def _on_assign(self, tps: list[TopicPartition]) -> None:
        """Open (and restore) the stores of newly assigned partitions; re-emit their summaries.

        Blocks until every store caught up with its changelog; a restore that
        cannot finish raises and stops the worker (the group reassigns).
        """
        new = sorted({p for _, p in tps} - set(self.parts))
        started = time.perf_counter()
        opened = open_partitions(
            {p: self.mon.state_dir / self.mon.app_id / str(p) for p in new}, self.options,
            {**self.conf, "group.id": f"{self.mon.app_id}-restore"}, self.mon.changelog_topic,
        )
        if new:
            self.metrics.restore.observe(time.perf_counter() - started)
        for p, (part, restored) in opened.items():
            self.parts[p] = part
            self._emit([Summary.from_json(s.encode()) for s in part.meta.summaries])
            self._gauges(part)
            log.info("join partition %d ready at checkpoint %d (restored=%s, held=%s)",
                     p, part.meta.seq, restored, part.held,
                     extra={"partition": p, "seq": part.meta.seq, "restored": restored})
        self.ready = True

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
        """Partitions lost without a revoke: drop unsaved work; the next owner replays it."""
        self._close([self.parts[p] for p in sorted({p for _, p in tps}) if p in self.parts])

    def _close(self, parts: list[PartitionState]) -> None:
        for part in parts:
            part.store.close()
            del self.parts[part.partition]
        if not self.parts:
            self.ready = False
