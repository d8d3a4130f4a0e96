"""The label join of one partition, one batch at a time, over a :class:`PartitionStore`.

Per event id the store holds one entry (see :mod:`streamapp.monitoring.dataplane.store`):
a pending prediction waits for its label, a pending label (arrived first)
waits for its prediction, and ``joined`` / ``expired`` tombstones recognise
duplicates and late labels for one more TTL. An event scored by two versions
(primary and shadow) holds both predictions in one ``variants`` entry, keyed by
variant, so the one label joins both and the pair is reported for the shadow
verdict (:mod:`streamapp.monitoring.dataplane.comparison`). Deadlines are event time + TTL;
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

import msgspec

from streamapp.monitoring.dataplane import store as st
from streamapp.monitoring.dataplane.records import (
    LabelRecord,
    Logged,
    LoggedRecord,
    decode_label,
    decode_stored,
    encode,
)
from streamapp.monitoring.dataplane.store import PartitionStore

_PAYLOAD = st.HEAD_SIZE


@dataclass
class JoinResult:
    """What a batch (or an expiry pass) did."""

    joined: list[tuple[Logged, LabelRecord]] = field(default_factory=list)
    first_seen: list[LoggedRecord] = field(default_factory=list)
    """Logged predictions seen for the first time (drift input, logged counts)."""
    expired: list[Logged] = field(default_factory=list)
    pairs: list[tuple[Logged, Logged, LabelRecord]] = field(default_factory=list)
    """(primary, shadow, label) of events whose two predictions both joined the label."""
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
        self.pairs.extend(other.pairs)
        self.counts.update(other.counts)


def join_batch(
    store: PartitionStore,
    preds: list[tuple[LoggedRecord, bytes]],
    labels: list[tuple[LabelRecord, bytes]],
    ttl_s: float,
    watermark: float,
    keep_label: bool = False,
) -> JoinResult:
    """Apply a batch of (record, raw bytes) predictions, then labels, to the store.

    ``keep_label`` (shadow mode): a joined event keeps its label and its joined
    predictions (features dropped) for one TTL instead of a bare tombstone, so a
    prediction of another variant that arrives after the label still joins and pairs.
    """
    res = JoinResult()
    pred_keys = [st.data_key(p.event_id) for p, _ in preds]
    label_keys = [st.data_key(lab.event_id) for lab, _ in labels]
    keys = list({*pred_keys, *label_keys})
    current = dict(zip(keys, store.get_many(keys), strict=True))
    changed: dict[bytes, bytes] = {}
    tomb = st.entry(st.JOINED, watermark + ttl_s)
    counts = res.counts
    for (pred, raw), key in zip(preds, pred_keys, strict=True):
        if pred.inputs is not None:  # sampling.log_inputs: raw tensors are not held
            raw = encode(msgspec.structs.replace(pred, inputs=None))
        value = current.get(key)
        tag = value[:1] if value is not None else None
        if value is None:
            new = st.entry(st.PENDING_PREDICTION, pred.event_time.timestamp() + ttl_s, raw)
            counts["held_prediction"] += 1
        elif tag == st.PENDING_LABEL:
            label = decode_label(value[_PAYLOAD:])
            res.joined.append((pred, label))
            counts["matched_label"] += 1
            new = (_kept(value[_PAYLOAD:], [pred], watermark + ttl_s) if keep_label else tomb)
        elif tag == st.PENDING_PREDICTION:
            held = value[_PAYLOAD:]
            variant = decode_stored(held).variant
            if variant == pred.variant:
                counts["duplicate_prediction"] += 1
                continue
            slots = Variants(pending={variant: held, pred.variant: raw})
            new = _variants(value, slots)
            counts["held_prediction"] += 1
        elif tag == st.VARIANTS:
            slots = decode_variants(value[_PAYLOAD:])
            if pred.variant in slots.pending or pred.variant in slots.joined:
                counts["duplicate_prediction"] += 1
                continue
            if slots.label is None:
                slots.pending[pred.variant] = raw
                counts["held_prediction"] += 1
            else:
                label = decode_label(slots.label)
                res.joined.append((pred, label))
                earlier: list[Logged] = [decode_stored(r) for r in slots.joined.values()]
                res.pairs.extend(_pairs([*earlier, pred], label, pred))
                slots.joined[pred.variant] = _slim(pred)
            new = _variants(value, slots)
        else:
            counts["duplicate_prediction"] += 1
            continue
        res.first_seen.append(pred)
        current[key] = changed[key] = new
    for (label, raw), key in zip(labels, label_keys, strict=True):
        value = current.get(key)
        tag = value[:1] if value is not None else None
        if value is None:
            new = st.entry(st.PENDING_LABEL, label.label_time.timestamp() + ttl_s, raw)
            counts["held_label"] += 1
        elif tag == st.PENDING_PREDICTION:
            stored = decode_stored(value[_PAYLOAD:])
            res.joined.append((stored, label))
            counts["matched_prediction"] += 1
            new = _kept(raw, [stored], watermark + ttl_s) if keep_label else tomb
        elif tag == st.VARIANTS and (slots := decode_variants(value[_PAYLOAD:])).label is None:
            waiting: list[Logged] = [decode_stored(r) for r in slots.pending.values()]
            res.joined.extend((p, label) for p in waiting)
            res.pairs.extend(_pairs(waiting, label, None))
            counts["matched_prediction"] += len(waiting)
            new = _kept(raw, waiting, watermark + ttl_s) if keep_label else tomb
        else:
            counts["late_label" if tag == st.EXPIRED else "duplicate_label"] += 1
            continue
        current[key] = changed[key] = new
    store.put_many(changed)
    return res


class Variants(msgspec.Struct, array_like=True, gc=False):
    """The payload of a :data:`~streamapp.monitoring.dataplane.store.VARIANTS` entry (msgpack).

    Before the label: ``pending`` holds each variant's prediction as consumed. After
    it (``keep_label``): ``label`` as consumed and ``joined`` the predictions it
    joined, without features (what pairing a later variant needs).
    """

    pending: dict[str, bytes] = msgspec.field(default_factory=dict)
    label: bytes | None = None
    joined: dict[str, bytes] = msgspec.field(default_factory=dict)


decode_variants = msgspec.msgpack.Decoder(Variants).decode
_encode_variants = msgspec.msgpack.Encoder().encode
_NO_FEATURES = msgspec.Raw(b"{}")


def _variants(old: bytes, slots: Variants) -> bytes:
    """A VARIANTS entry with the deadline of ``old``."""
    return st.VARIANTS + old[1:_PAYLOAD] + _encode_variants(slots)


def _slim(pred: Logged) -> bytes:
    """A joined prediction as kept for pairing: every field but the features."""
    return encode(msgspec.structs.replace(pred, features=_NO_FEATURES))


def _kept(label: bytes, joined: list[Logged], deadline: float) -> bytes:
    """The entry of a joined event that keeps its label (``keep_label``)."""
    slots = Variants(label=label, joined={p.variant: _slim(p) for p in joined})
    return st.entry(st.VARIANTS, deadline, _encode_variants(slots))


def _pairs(
    preds: list[Logged], label: LabelRecord, new: Logged | None
) -> list[tuple[Logged, Logged, LabelRecord]]:
    """(primary, shadow, label) of an event's joined predictions; with ``new``, only the
    pairs it takes part in (the others were paired when they joined)."""
    primary = next((p for p in preds if p.variant == "primary"), None)
    if primary is None:
        return []
    return [
        (primary, p, label) for p in preds
        if p.variant == "shadow" and (new is None or new is p or new is primary)
    ]


def expire(store: PartitionStore, watermark: float, ttl_s: float, limit: int) -> JoinResult:
    """Expire up to ``limit`` entries due at ``watermark``; call right after a commit.

    Pending predictions (one or several variants) become ``expired`` tombstones
    (counted per model), pending labels are removed as unmatched, tombstones and
    kept labels are removed.
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
        elif tag == st.VARIANTS and (slots := decode_variants(value[_PAYLOAD:])).label is None:
            res.expired.extend(decode_stored(r) for r in slots.pending.values())
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
