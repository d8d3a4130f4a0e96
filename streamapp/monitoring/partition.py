"""One join partition's state: its store, checkpoint metadata, and restore from the changelog.

Checkpoint protocol (see docs/monitoring.md): the changelog partition holds
every store write followed by a *marker* record (key ``m``) carrying the
checkpoint's metadata: sequence number, next input offsets, watermark, held
counts and the summaries of that checkpoint. A marker is the commit point: on
restore, writes after the last marker belong to an unfinished checkpoint and
are discarded, and the inputs are consumed again from the marker's offsets.
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

    def __post_init__(self) -> None:
        self.consumed = dict(self.meta.offsets)
        self.event_time = self.meta.event_time
        self.held = dict(self.meta.held)

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


def open_partition(
    path: Path, partition: int, options: Any, consumer_conf: dict[str, Any], changelog: str,
    timeout_s: float = 120.0,
) -> tuple[PartitionState, bool]:
    """Open the local store and catch it up with the changelog; returns (state, restored).

    ``restored`` is True when the changelog held a checkpoint newer than the
    local store. Blocks until the changelog partition was read to its end.
    """
    store = PartitionStore(path, options)
    raw = store.meta()
    if raw is None and next(iter(store.db.keys()), None) is not None:
        store.wipe()  # writes without a checkpoint: never trust them
        store = PartitionStore(path, options)
    meta = Meta.from_json(raw) if raw is not None else Meta()
    newer = _catch_up(store, meta, partition, consumer_conf, changelog, timeout_s)
    if newer is not None:
        meta = newer
    return PartitionState(partition, store, meta), newer is not None


def _catch_up(
    store: PartitionStore, meta: Meta, partition: int, conf: dict[str, Any], topic: str,
    timeout_s: float,
) -> Meta | None:
    consumer = Consumer({**conf, "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, partition, meta.changelog_next)])
    buffered: dict[bytes, bytes | None] = {}
    newest: Meta | None = None
    applied = 0
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            msgs = consumer.consume(10_000, 0.1)
            eof = False
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    eof = eof or err.code() == KafkaError._PARTITION_EOF
                    continue
                key, value = msg.key(), msg.value()
                if key == META_KEY and value is not None:
                    newest = Meta.from_json(value)
                    newest.changelog_next = int(msg.offset() or 0) + 1
                    store.dirty = buffered
                    store.commit(newest.to_json())
                    applied += len(buffered)
                    buffered = {}
                elif key is not None:
                    buffered[key] = value
            if eof:
                break
        else:
            raise TimeoutError(f"changelog {topic}[{partition}] not read to its end")
    finally:
        consumer.close()
    if newest is not None:
        log.info("restored partition %d from the changelog: %d writes up to checkpoint %d",
                 partition, applied, newest.seq,
                 extra={"partition": partition, "writes": applied, "seq": newest.seq})
    return newest
