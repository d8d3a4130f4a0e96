"""The monitor's data plane: batch label join, durable state, summaries, on Source/Sink ports.

One thread runs :meth:`JoinWorker.run`, a loop of named phases:
``fetch`` (a batch from prediction-log and labels, co-partitioned: partition p
of both belongs to one worker) → ``join`` (drop labels outside the logged
sample by the scorer's event-id hash, before decoding or any state lookup;
decode in bulk; join against the partition's store; send the joined outcomes,
JSON or Avro (:mod:`.outcome_format`), and dead letters) → ``deliver`` (serve
delivery reports) → ``advance`` (the checkpoint in flight, as far as its
deliveries allow) → ``tick`` (every ``checkpoint_interval_s``: seal the next
checkpoint, then expire entries due at the event-time watermark; their writes
join the next checkpoint).

The parts with one job each: :class:`~.checkpoint.Checkpointer` (the numbered
checkpoint steps and their failure behaviour), :class:`~.assignment.Assignment`
(the rebalance hooks: restore, revoke, loss), :class:`~.accounting.Accounting`
(metrics). The worker takes its ports (:class:`~.ports.JoinIO`) in its
constructor: :func:`kafka_join_worker` wires the Kafka ones, and
:mod:`streamapp.testing.cluster` ships in-memory ones for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry

from streamapp.config import Settings
from streamapp.deadletter import dead_letter_value
from streamapp.gc_tuning import tune_for_batches
from streamapp.metrics.formats import FormatMetrics
from streamapp.metrics.monitoring import JoinMetrics
from streamapp.monitoring.dataplane.accounting import Accounting
from streamapp.monitoring.dataplane.assignment import Assignment
from streamapp.monitoring.dataplane.checkpoint import Checkpointer
from streamapp.monitoring.dataplane.fold import Folder
from streamapp.monitoring.dataplane.join import expire, join_batch, now_utc
from streamapp.monitoring.dataplane.label_format import LabelsStopped, registry_labels
from streamapp.monitoring.dataplane.outcome_format import OutcomeFormat
from streamapp.monitoring.dataplane.partition import PartitionState
from streamapp.monitoring.dataplane.ports import JoinIO
from streamapp.monitoring.dataplane.records import (
    decode_batch,
    decode_label,
    decode_prediction,
    outcome,
)
from streamapp.monitoring.dataplane.sampled import SampleFilter
from streamapp.monitoring.dataplane.store import rocks_options
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.registry import ModelRegistry
from streamapp.scoring.ports import Tombstone

if TYPE_CHECKING:
    from streamapp.kafka.health import ConnectionHealth

log = logging.getLogger(__name__)
MAX_PREDICTION_BYTES = 1 << 20
EXPIRE_LIMIT = 100_000
_EVENT_TIME = attrgetter("event_time")


class JoinWorker:
    """The join data plane of one monitor process; :meth:`run` blocks until stopped."""

    def __init__(
        self,
        settings: Settings,
        io: JoinIO,
        prometheus: CollectorRegistry = REGISTRY,
        stop_event: threading.Event | None = None,
        health: ConnectionHealth | None = None,
    ) -> None:
        self.settings, self.io, self.health = settings, io, health
        self.mon, self.topics = settings.monitoring, settings.topics
        self.source = io.source
        self.metrics = JoinMetrics(prometheus)
        self.stop_event = stop_event or threading.Event()
        self.sample = SampleFilter(settings.sampling)
        self.shadow = settings.sampling.candidate_mode == "shadow"
        self.parts: dict[int, PartitionState] = {}
        self.accounting = Accounting(self.metrics, self.topics.prediction_log)
        self.checkpoints = Checkpointer(
            io.source, io.outputs, io.epochs,
            Folder(SpecCache(ModelRegistry(settings.model.registry)), self.mon.bucket_s),
            self.mon.changelog_topic, self.topics.monitoring_summaries, self.metrics,
            self.parts, self.accounting.durable,
        )
        self.assignment = Assignment(
            self.mon.state_dir / self.mon.app_id, rocks_options(self.mon.state_memory_mb),
            self.mon.changelog_topic, io.changelog, io.views, self.checkpoints,
            self.accounting, self.metrics,
        )
        formats = FormatMetrics(prometheus)
        self.labels_format = registry_labels(settings, formats, self.stop_event)
        """The labels topic's registry format (None: the JSON label envelope)."""
        self.outcomes = OutcomeFormat(settings, formats, self.stop_event)
        """The joined outcomes' format: JSON, or Avro registered by :meth:`start_outcomes`."""
        self.fatal: BaseException | None = None
        self._last_seal = 0.0

    @property
    def ready(self) -> bool:
        """Partitions assigned and their stores restored (any thread)."""
        return self.assignment.ready

    def registry_reason(self) -> str | None:
        """None unless the Schema Registry of the labels or the joined outcomes is unreachable
        now (any thread)."""
        if self.labels_format is not None and (reason := self.labels_format.ready_reason()):
            return reason
        return self.outcomes.ready_reason()

    def start_outcomes(self) -> bool:
        """Before :meth:`run`: register the joined outcomes' Avro schema (nothing for JSON).
        Waits through a registry outage (False when stopped meanwhile); a refusing subject
        raises :class:`~streamapp.host.errors.OutputSchemaError` (exit 2, one line)."""
        return self.outcomes.start()

    def close(self) -> None:
        """Release the clients of a worker that never ran (:meth:`run` releases its own)."""
        self._shutdown()

    def store_health(self) -> list[dict[str, Any]]:
        """How each owned partition's store was opened (any thread: a copy)."""
        return self.assignment.store_health()

    # ---- lifecycle -------------------------------------------------------------------------
    def run(self) -> None:
        """Consume, join and checkpoint until the stop event; a final checkpoint on the way out.

        Any error (a failed delivery, a restore that cannot finish) is kept in
        :attr:`fatal` and raised: nothing of an unfinished checkpoint reaches a store,
        and the next owner replays from the last one (:mod:`.checkpoint`). Avro outcomes
        not yet registered (:meth:`start_outcomes`) are registered first.
        """
        tune_for_batches()
        a = self.assignment
        try:
            if not self.start_outcomes():  # stopped while the registry was unreachable
                return
            self.source.subscribe(a.on_assign, a.on_revoke, a.on_lost)
            self._last_seal = time.monotonic()
            self._loop()
            self.checkpoints.checkpoint(list(self.parts.values()))
        except BaseException as exc:
            self.fatal = exc
            raise
        finally:
            self._shutdown()

    def _loop(self) -> None:
        """The named phases, in order, until stopped (see the module docstring)."""
        while not self.stop_event.is_set():
            records = self.fetch()
            if records:
                self.join(records)
            self.checkpoints.poll(0)  # deliver
            self.checkpoints.advance()
            self.tick()

    def _shutdown(self) -> None:
        """Leave the group (revoke hooks checkpoint what is left), flush, close the stores."""
        self.assignment.ready = False
        try:
            self.source.close()
        except Exception:  # closing after a broker loss must not hide the first error
            log.exception("consumer close failed")
        self.checkpoints.close()
        self.assignment.close()

    # ---- phases ----------------------------------------------------------------------------
    def fetch(self) -> list[Any]:
        """What is queued now (a full batch is never waited for), or the first record."""
        return list(self.source.fetch(self.mon.fetch_size, 0.0, 0.1))

    def tick(self) -> None:
        """The checkpoint timer: seal the next checkpoint when none is in flight, then expire."""
        if self.checkpoints.inflight is not None:
            return
        if time.monotonic() - self._last_seal < self.mon.checkpoint_interval_s:
            return
        self._last_seal = time.monotonic()
        parts = list(self.parts.values())
        self.checkpoints.seal(parts)
        self._expire(parts)

    def join(self, msgs: list[Any]) -> None:
        """Join one fetched batch, partition by partition; send outcomes and dead letters."""
        log_topic, parts = self.topics.prediction_log, self.parts
        runs: dict[tuple[str, int], list[Any]] = {}
        for m in msgs:  # per topic and partition, in offset order (the source keeps it)
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
            try:
                self._join_partition(parts[p], raw_preds, raw_labels, now_mono)
            except LabelsStopped:  # stopping while the schema registry is unreachable
                log.info("stopping with labels undecoded (schema registry unreachable): "
                         "not checkpointed, consumed again")
                return

    def _join_partition(
        self, part: PartitionState, raw_preds: list[Any], raw_labels: list[Any], now_mono: float
    ) -> None:
        topics, mon = self.topics, self.mon
        kept, dropped, keyless = self.sample.by_key(raw_labels)
        labels = (decode_batch(kept, decode_label, mon.max_label_bytes)
                  if self.labels_format is None else self.labels_format.decode(kept))
        preds = decode_batch(raw_preds, decode_prediction, MAX_PREDICTION_BYTES)
        for raw_list, topic in ((raw_preds, topics.prediction_log), (raw_labels, topics.labels)):
            if raw_list:  # after the labels decoded: a stop during an outage skips the batch
                part.consumed[topic] = raw_list[-1].offset() + 1
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
            mon.label_ttl_s, part.event_time, self.shadow,
        )
        out: list[Tombstone] = []
        joined_at = now_utc()
        keys: list[bytes | None] = [pred.event_id.encode() for pred, _label in result.joined]
        values = self.outcomes.encode([outcome(pred, label, joined_at)
                                       for pred, label in result.joined])
        for topic, rejected in ((topics.prediction_log, preds.rejected),
                                (topics.labels, labels.rejected)):
            for rej in rejected:
                body, headers = dead_letter_value(
                    rej.reason, rej.detail, (topic, part.partition, rej.offset), rej.value, rej.key
                )
                out.append((topics.dead_letter, rej.key, body, headers))
                part.pending.counts[f"dead:{topic}:{rej.reason.value}"] += 1
        if out or values:
            self.checkpoints.send(out, [(topics.joined_outcomes, keys, values)])
        part.pending.extend(result)

    def _expire(self, parts: list[PartitionState]) -> None:
        """Expire entries due at each partition's watermark (right after a seal, with an
        empty write set); the results join the next checkpoint."""
        now_mono = time.monotonic()
        for part in parts:
            if part.store.dirty:
                continue
            part.pending.extend(
                expire(part.store, part.watermark(now_mono), self.mon.label_ttl_s, EXPIRE_LIMIT)
            )
            self.accounting.gauges(part)

    def checkpoint(self, parts: list[PartitionState]) -> None:
        """Make the work of ``parts`` durable now (see :meth:`.Checkpointer.checkpoint`)."""
        self.checkpoints.checkpoint(parts)


def kafka_join_worker(
    settings: Settings,
    bootstrap: str,
    prometheus: CollectorRegistry = REGISTRY,
    stop_event: threading.Event | None = None,
    health: ConnectionHealth | None = None,
) -> JoinWorker:
    """The join worker over the cluster at ``bootstrap`` (what the monitor role runs)."""
    from streamapp.monitoring.dataplane.kafka_io import kafka_join_io

    return JoinWorker(settings, kafka_join_io(settings, bootstrap, health), prometheus,
                      stop_event, health)
