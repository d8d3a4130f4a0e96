"""The batch join over a real RocksDB store: states, duplicates, expiry, exactly-once."""

from __future__ import annotations

from pathlib import Path

from streamapp.monitoring.dataplane import store as st
from streamapp.monitoring.dataplane.join import expire, join_batch
from streamapp.monitoring.dataplane.store import PartitionStore, rocks_options
from tests.unit.monitoring.data import T0, TTL, labels_for, predictions, records, with_raw


def test_prediction_then_label_and_label_then_prediction_join_once(store: PartitionStore) -> None:
    preds, labels = records(predictions(4), labels_for(predictions(4), 1.0))
    first = join_batch(store, with_raw(preds[:2]), with_raw(labels[2:]), TTL, T0)
    assert first.joined == []
    assert first.counts["held_prediction"] == 2 and first.counts["held_label"] == 2
    store.commit(b"{}")
    second = join_batch(store, with_raw(preds[2:]), with_raw(labels[:2]), TTL, T0)
    assert sorted(p.event_id for p, _ in second.joined) == sorted(p.event_id for p in preds)
    assert [p.event_id for p in second.first_seen] == [p.event_id for p in preds[2:]]
    assert second.held_delta() == {"prediction": -2, "label": -2}
    again = join_batch(store, with_raw(preds), with_raw(labels), TTL, T0)  # replayed / resent
    assert again.joined == []
    assert again.counts["duplicate_prediction"] == 4 and again.counts["duplicate_label"] == 4


def test_writes_are_invisible_to_rocksdb_until_commit(store: PartitionStore) -> None:
    preds, _ = records(predictions(1), [])
    join_batch(store, with_raw(preds), [], TTL, T0)
    key = st.data_key(preds[0].event_id)
    assert store.db.get(key) is None and store.get_many([key])[0] is not None
    store.commit(b'{"seq": 1}')
    assert store.db.get(key) is not None and store.meta() == b'{"seq": 1}'


def test_expiry_runs_on_the_watermark_late_and_unmatched_labels(store: PartitionStore) -> None:
    preds, labels = records(predictions(3), labels_for(predictions(3), 1.0))
    join_batch(store, with_raw(preds[:2]), with_raw(labels[2:]), TTL, T0)
    store.commit(b"{}")
    early = expire(store, T0 + 1, TTL, 100)
    assert early.expired == [] and not early.counts
    label_deadline = labels[2].label_time.timestamp() + TTL
    res = expire(store, label_deadline, TTL, 100)
    assert sorted(p.event_id for p in res.expired) == sorted(p.event_id for p in preds[:2])
    assert res.counts["unmatched_label"] == 1
    assert res.held_delta() == {"prediction": -2, "label": -1}
    store.commit(b"{}")
    late = join_batch(store, [], with_raw(labels[:2]), TTL, label_deadline)
    assert late.counts["late_label"] == 2 and late.joined == []
    store.commit(b"{}")
    # tombstones go one TTL later; then the same id is new again
    gone = expire(store, label_deadline + TTL + 1, TTL, 100)
    assert gone.expired == [] and not gone.counts
    store.commit(b"{}")
    assert store.get_many([st.data_key(p.event_id) for p in preds[:2]]) == [None, None]


def test_stale_index_keys_are_dropped(store: PartitionStore) -> None:
    preds, labels = records(predictions(1), labels_for(predictions(1), 1.0))
    join_batch(store, with_raw(preds), [], TTL, T0)
    store.commit(b"{}")
    join_batch(store, [], with_raw(labels), TTL, T0 + 1000)  # joined: new deadline
    store.commit(b"{}")
    res = expire(store, preds[0].event_time.timestamp() + TTL, TTL, 100)
    assert res.expired == []  # the old deadline's index key is stale


def test_entry_encoding_round_trip() -> None:
    value = st.entry(st.PENDING_LABEL, T0 + 0.25, b"payload")
    assert st.parse(value) == (st.PENDING_LABEL, T0 + 0.25, b"payload")


def test_store_reopens_with_its_state(tmp_path: Path) -> None:
    s = PartitionStore(tmp_path / "p", rocks_options(8))
    s.put(b"dx", st.entry(st.JOINED, T0))
    s.commit(b"meta")
    s.close()
    again = PartitionStore(tmp_path / "p", rocks_options(8))
    assert again.meta() == b"meta" and again.get_many([b"dx"])[0] is not None
    keys, nbytes = again.stats()
    assert keys >= 1 and nbytes > 0
    again.wipe()
    assert not (tmp_path / "p").exists()

