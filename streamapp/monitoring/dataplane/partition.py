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
it consumes anything (the assign hook of
:class:`~streamapp.monitoring.dataplane.assignment.Assignment`). This is
compaction-safe: the rewrite is newer than the orphan.

A checkpoint also records what it belongs to: the cluster id and the topic ids
of the inputs and the changelog (:mod:`.origin`). At assignment a local store
that cannot belong to the log (another cluster or topic incarnation, an offset
past a partition's end, or no record of its origin) is wiped and restored from
the changelog; if the changelog's own newest checkpoint cannot belong to the
inputs either, the partition starts from nothing, and every key the changelog
held is voided (tombstoned, then marked) like an orphan, so no later restore
brings it back. Either way no distrusted offset is ever used to skip input.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from streamapp.monitoring.dataplane.join import JoinResult
from streamapp.monitoring.dataplane.origin import ClusterView, Distrust, distrust
from streamapp.monitoring.dataplane.store import META_KEY, PartitionStore

if TYPE_CHECKING:
    from streamapp.monitoring.dataplane.ports import ChangelogReader

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
    cluster: str = ""
    """Id of the cluster the offsets are in ("": written before it was recorded)."""
    topic_ids: dict[str, str] = field(default_factory=dict)
    """Topic name → topic id (KIP-516) of the inputs and the changelog."""

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @classmethod
    def from_json(cls, raw: bytes) -> Meta:
        return cls(**orjson.loads(raw))

    def stamp(self, view: ClusterView) -> Meta:
        """Record the cluster and topic incarnations of ``view`` (returns self)."""
        self.cluster, self.topic_ids = view.cluster, dict(view.topic_ids)
        return self

    def distrust(self, view: ClusterView, changelog: str, *, local: bool) -> Distrust | None:
        """Why this checkpoint cannot belong to the log ``view`` describes (None: it can).
        A local store's position in the changelog is checked too."""
        offsets = {**self.offsets, changelog: self.changelog_next} if local else self.offsets
        return distrust(self.cluster, self.topic_ids, offsets, view, local=local)


@dataclass
class Restored:
    """What opening one partition found."""

    state: PartitionState
    source: str
    """Where the state came from: ``disk`` (the local store, nothing newer in the
    changelog), ``changelog`` (caught up from it) or ``empty`` (nothing, or nothing
    that could be trusted)."""
    orphans: list[bytes]
    """Keys to void: written after the last marker (an unfinished checkpoint), or every
    key of a changelog that cannot be trusted."""
    discarded: dict[str, Distrust] = field(default_factory=dict)
    """``local`` / ``changelog`` → why that checkpoint was thrown away."""


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
    paths: dict[int, Path], options: Any, reader: ChangelogReader, changelog: str,
    views: dict[int, ClusterView], timeout_s: float = 300.0,
) -> dict[int, Restored]:
    """Open local stores, check what they belong to against ``views`` (per partition: the
    cluster as it is now) and catch them up with their changelog partitions (``reader``).

    Blocks until every changelog partition was read to its end; raises
    TimeoutError after ``timeout_s``. A distrusted checkpoint logs a warning and
    is named in :attr:`Restored.discarded`.
    """
    stores: dict[int, PartitionStore] = {}
    metas: dict[int, Meta] = {}
    discarded: dict[int, dict[str, Distrust]] = {p: {} for p in paths}
    kept: set[int] = set()
    for p, path in paths.items():
        store = PartitionStore(path, options)
        raw = store.meta()
        meta = Meta.from_json(raw) if raw is not None else Meta()
        why = meta.distrust(views[p], changelog, local=True) if raw is not None else None
        if why is not None:
            _warn(p, "local", why, "restoring it from the changelog")
            discarded[p]["local"] = why
        if why is not None or (raw is None and next(iter(store.db.keys()), None) is not None):
            store.wipe()  # writes without a checkpoint, or of another log: never trust them
            store = PartitionStore(path, options)
            meta = Meta(seq=meta.seq)  # sequence numbers never go back (the policy agent's)
        elif raw is not None:
            kept.add(p)
        stores[p], metas[p] = store, meta
    newer, orphans = _catch_up(stores, metas, reader, changelog, timeout_s)
    out: dict[int, Restored] = {}
    for p, path in paths.items():
        meta, voids = newer.get(p, metas[p]), set(orphans.get(p, {}))
        source = "changelog" if p in newer else "disk" if p in kept else "empty"
        why = meta.distrust(views[p], changelog, local=False) if p in newer else None
        if why is not None:
            _warn(p, "changelog", why, "starting from nothing")
            discarded[p]["changelog"] = why
            voids = voids | set(stores[p].data_keys())
            stores[p].wipe()
            stores[p] = PartitionStore(path, options)
            meta, source = Meta(seq=max(meta.seq, metas[p].seq)), "empty"
        meta.stamp(views[p])
        out[p] = Restored(PartitionState(p, stores[p], meta), source, sorted(voids),
                          discarded[p])
    return out


def _warn(p: int, store: str, why: Distrust, then: str) -> None:
    log.warning("partition %d: %s join checkpoint cannot belong to this log (%s: %s); %s",
                p, store, why.reason.value, why.detail, then,
                extra={"partition": p, "store": store, "reason": why.reason.value})


def _catch_up(
    stores: dict[int, PartitionStore], metas: dict[int, Meta], reader: ChangelogReader,
    topic: str, timeout_s: float,
) -> tuple[dict[int, Meta], dict[int, dict[bytes, bytes | None]]]:
    """Apply every marked checkpoint after each store's own; returns the newest metas and
    the writes after the last marker per partition (orphans)."""
    if not stores:
        return {}, {}
    buffered: dict[int, dict[bytes, bytes | None]] = {p: {} for p in stores}
    newest: dict[int, Meta] = {}
    applied = dict.fromkeys(stores, 0)
    starts = {p: metas[p].changelog_next for p in stores}
    for p, offset, key, value in reader.read(topic, starts, timeout_s):
        if key == META_KEY and value is not None:
            meta = newest[p] = Meta.from_json(value)
            meta.changelog_next = offset + 1
            stores[p].dirty = buffered[p]
            stores[p].commit(meta.to_json())
            applied[p] += len(buffered[p])
            buffered[p] = {}
        elif key is not None:
            buffered[p][key] = value
    for p, meta in newest.items():
        log.info("restored partition %d from the changelog: %d writes up to checkpoint %d",
                 p, applied[p], meta.seq,
                 extra={"partition": p, "writes": applied[p], "seq": meta.seq})
    for p, orphan in buffered.items():
        if orphan:
            log.info("partition %d: %d changelog writes of an unfinished checkpoint to void",
                     p, len(orphan), extra={"partition": p, "orphans": len(orphan)})
    return newest, {p: b for p, b in buffered.items() if b}
