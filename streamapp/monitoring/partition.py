"""One join partition's state: its store, checkpoint metadata, and restore from the changelog.

Checkpoint protocol (see docs/monitoring.md): the changelog partition holds
every store write followed by a *marker* record (key ``m``) carrying the
checkpoint's metadata: sequence number, next input offsets, watermark, held
counts and the summaries of that checkpoint. A marker is the commit point: on
restore, writes after the last marker belong to an unfinished checkpoint and
are discarded, and the inputs are consumed again from the marker's offsets.

Discarded writes are still in the log, though, and a later marker would apply
them on the next restore (a dead owner's half-written checkpoint resurrected
under its successor's marker: a joined tombstone that turns a later label
into a "duplicate"). So a restore returns those *orphan* keys, and the new owner
overwrites them with their restored values and writes a marker again before
it consumes anything (:meth:`~streamapp.monitoring.dataplane.JoinWorker`'s
assign hook). This is compaction-safe: the rewrite is newer than the orphan.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, TopicPartition

from streamapp.monitoring.join import JoinResult
from streamapp.monitoring.store import META_KEY, PartitionStore

log = logging.getLogger(__name__)
_MISSING = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION,
            KafkaError._UNKNOWN_TOPIC)


@dataclass
class Meta:
    """What a checkpoint records besides the state (JSON in the store and the changelog)."""

    seq: int = 0
    offsets: dict[str, int] = field(default_factory=dict)
    """Input topic → next offset to process."""
    event_time: float = 0.0
    """Largest event / label time seen (the watermark before idle advance)."""
    held: dict[str, int] = field(default_factory=dict)
    """Pending ``prediction`` / ``label`` entries."""
    summaries: list[str] = field(default_factory=list)
    """This checkpoint's summaries (JSON), re-emitted after a restore."""
    changelog_next: int = 0
    """Changelog offset after this checkpoint's marker (local store only)."""

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @classmethod
    def from_json(cls, raw: bytes) -> Meta:
        return cls(**orjson.loads(raw))


@dataclass
class Restored:
    """What opening one partition found."""

    state: PartitionState
    from_changelog: bool
    """The changelog held a checkpoint newer than the local store."""
    orphans: list[bytes]
    """Keys written after the last marker (an unfinished checkpoint): to be voided."""


@dataclass
class PartitionState:
    """A partition's store, checkpointed metadata and progress since the checkpoint."""

    partition: int
    store: PartitionStore
    meta: Meta
    consumed: dict[str, int] = field(default_factory=dict)
    """Input topic → next offset (progress since the checkpoint)."""
    event_time: float = 0.0
    last_arrival: float = field(default_factory=time.monotonic)
    pending: JoinResult = field(default_factory=JoinResult)
    held: dict[str, int] = field(default_factory=dict)
    """Pending entries as of the newest sealed checkpoint."""
    durable_held: dict[str, int] = field(default_factory=dict)
    """Pending entries as of the newest committed checkpoint (what the gauge shows)."""

    def __post_init__(self) -> None:
        self.consumed = dict(self.meta.offsets)
        self.event_time = self.meta.event_time
        self.held = dict(self.meta.held)
        self.durable_held = dict(self.meta.held)

    def watermark(self, now_mono: float) -> float:
        """Event-time watermark: max event time seen, advanced by idle wall time.

        While records arrive it is the largest event time; while the partition
        is idle it moves on with the clock, so expiry never waits for traffic.
        """
        return self.event_time + max(0.0, now_mono - self.last_arrival)

    def dirty(self) -> bool:
        """Anything to checkpoint?"""
        p = self.pending
        return bool(
            self.store.dirty or p.joined or p.first_seen or p.expired or p.counts
            or self.consumed != self.meta.offsets
        )


def open_partitions(
    paths: dict[int, Path], options: Any, consumer_conf: dict[str, Any], changelog: str,
    timeout_s: float = 300.0,
) -> dict[int, Restored]:
    """Open local stores and catch them up with their changelog partitions (one consumer).

    Blocks until every changelog partition was read to its end; raises
    TimeoutError after ``timeout_s``.
    """
    stores: dict[int, PartitionStore] = {}
    metas: dict[int, Meta] = {}
    for p, path in paths.items():
        store = PartitionStore(path, options)
        raw = store.meta()
        if raw is None and next(iter(store.db.keys()), None) is not None:
            store.wipe()  # writes without a checkpoint: never trust them
            store = PartitionStore(path, options)
        stores[p] = store
        metas[p] = Meta.from_json(raw) if raw is not None else Meta()
    newer, orphans = _catch_up(stores, metas, consumer_conf, changelog, timeout_s)
    return {
        p: Restored(PartitionState(p, stores[p], newer.get(p, metas[p])), p in newer,
                    sorted(orphans.get(p, ())))
        for p in paths
    }


def _catch_up(
    stores: dict[int, PartitionStore], metas: dict[int, Meta], conf: dict[str, Any], topic: str,
    timeout_s: float,
) -> tuple[dict[int, Meta], dict[int, dict[bytes, bytes | None]]]:
    """Apply every marked checkpoint after each store's own; returns the newest metas and
    the writes after the last marker per partition (orphans)."""
    if not stores:
        return {}, {}
    consumer = Consumer({**conf, "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, metas[p].changelog_next) for p in stores])
    buffered: dict[int, dict[bytes, bytes | None]] = {p: {} for p in stores}
    newest: dict[int, Meta] = {}
    applied = dict.fromkeys(stores, 0)
    pending = set(stores)
    deadline = time.monotonic() + timeout_s
    try:
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"changelog {topic} {sorted(pending)} not read to its end")
            for msg in consumer.consume(10_000, 0.1):
                p = int(msg.partition() or 0)
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(p)
                    elif err.code() in _MISSING:
                        raise RuntimeError(f"changelog {topic}[{p}] does not exist: {err}")
                    continue
                key, value = msg.key(), msg.value()
                if key == META_KEY and value is not None:
                    meta = newest[p] = Meta.from_json(value)
                    meta.changelog_next = int(msg.offset() or 0) + 1
                    stores[p].dirty = buffered[p]
                    stores[p].commit(meta.to_json())
                    applied[p] += len(buffered[p])
                    buffered[p] = {}
                elif key is not None:
                    buffered[p][key] = value
    finally:
        consumer.close()
    for p, meta in newest.items():
        log.info("restored partition %d from the changelog: %d writes up to checkpoint %d",
                 p, applied[p], meta.seq,
                 extra={"partition": p, "writes": applied[p], "seq": meta.seq})
    for p, orphan in buffered.items():
        if orphan:
            log.info("partition %d: %d changelog writes of an unfinished checkpoint to void",
                     p, len(orphan), extra={"partition": p, "orphans": len(orphan)})
    return newest, {p: b for p, b in buffered.items() if b}
