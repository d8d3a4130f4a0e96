"""The label join of one partition, one batch at a time, over a :class:`PartitionStore`.

Per event id the store holds one entry (see :mod:`streamapp.monitoring.store`):
a pending prediction waits for its label, a pending label (arrived first)
waits for its prediction, and ``joined`` / ``expired`` tombstones recognise
duplicates and late labels for one more TTL. Deadlines are event time + TTL;
:func:`expire` runs on the checkpoint timer against the partition's watermark,
not only when the next record arrives.

A batch does one multi-get for all its event ids, then updates the entries in
memory; the store writes them at the next checkpoint together with the input
offsets, so a record is applied exactly once whatever crashes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streamapp.monitoring import store as st
from streamapp.monitoring.records import (
    LabelRecord,
    Logged,
    LoggedRecord,
    decode_label,
    decode_stored,
)
from streamapp.monitoring.store import PartitionStore

_PAYLOAD = st.HEAD_SIZE


@dataclass
class JoinResult:
    """What a batch (or an expiry pass) did."""

    joined: list[tuple[Logged, LabelRecord]] = field(default_factory=list)
    first_seen: list[LoggedRecord] = field(default_factory=list)
    """Logged predictions seen for the first time (drift input, logged counts)."""
    expired: list[Logged] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    """held_prediction, held_label, matched_prediction (a held prediction joined),
    matched_label, duplicate_prediction, duplicate_label, late_label, unmatched_label."""

    def held_delta(self) -> dict[str, int]:
        """Change of the pending prediction / label counts."""
        c = self.counts
        return {
            "prediction": c["held_prediction"] - c["matched_prediction"] - len(self.expired),
            "label": c["held_label"] - c["matched_label"] - c["unmatched_label"],
        }

    def extend(self, other: JoinResult) -> None:
        self.joined.extend(other.joined)
        self.first_seen.extend(other.first_seen)
        self.expired.extend(other.expired)
        self.counts.update(other.counts)


def join_batch(
    store: PartitionStore,
    preds: list[tuple[LoggedRecord, bytes]],
    labels: list[tuple[LabelRecord, bytes]],
    ttl_s: float,
    watermark: float,
) -> JoinResult:
    """Apply a batch of (record, raw bytes) predictions, then labels, to the store."""
    res = JoinResult()
    ids = {p.event_id for p, _ in preds} | {lab.event_id for lab, _ in labels}
    keys = [st.data_key(i) for i in ids]
    current = dict(zip(keys, store.get_many(keys), strict=True))
    tomb = st.entry(st.JOINED, watermark + ttl_s)
    for pred, raw in preds:
        key = st.data_key(pred.event_id)
        value = current.get(key)
        if value is None:
            new = st.entry(st.PENDING_PREDICTION, pred.event_time.timestamp() + ttl_s, raw)
            res.first_seen.append(pred)
            res.counts["held_prediction"] += 1
        elif value[:1] == st.PENDING_LABEL:
            res.joined.append((pred, decode_label(value[_PAYLOAD:])))
            res.first_seen.append(pred)
            res.counts["matched_label"] += 1
            new = tomb
        else:
            res.counts["duplicate_prediction"] += 1
            continue
        current[key] = new
        store.put(key, new)
    for label, raw in labels:
        key = st.data_key(label.event_id)
        value = current.get(key)
        if value is None:
            new = st.entry(st.PENDING_LABEL, label.label_time.timestamp() + ttl_s, raw)
            res.counts["held_label"] += 1
        elif value[:1] == st.PENDING_PREDICTION:
            res.joined.append((decode_stored(value[_PAYLOAD:]), label))
            res.counts["matched_prediction"] += 1
            new = tomb
        else:
            res.counts["late_label" if value[:1] == st.EXPIRED else "duplicate_label"] += 1
            continue
        current[key] = new
        store.put(key, new)
    return res


def expire(store: PartitionStore, watermark: float, ttl_s: float, limit: int) -> JoinResult:
    """Expire up to ``limit`` entries due at ``watermark``; call right after a commit.

    Pending predictions become ``expired`` tombstones (counted per model),
    pending labels are removed as unmatched, tombstones are removed.
    """
    res = JoinResult()
    due = store.due(watermark, limit)
    if not due:
        return res
    values = store.get_many([d for _, d in due])
    tomb = st.entry(st.EXPIRED, watermark + ttl_s)
    for (ikey, dkey), value in zip(due, values, strict=True):
        if value is None or ikey[1:9] != value[1:9]:
            continue  # stale index key: the entry moved on or is gone
        tag = value[:1]
        if tag == st.PENDING_PREDICTION:
            res.expired.append(decode_stored(value[_PAYLOAD:]))
            store.put(dkey, tomb)
        else:
            if tag == st.PENDING_LABEL:
                res.counts["unmatched_label"] += 1
            store.put(dkey, None)
    store.drop_index(i for i, _ in due)
    return res


def now_utc() -> datetime:
    """The join time stamped on outcomes."""
    return datetime.now(UTC)
