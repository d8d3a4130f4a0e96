"""A join store that cannot belong to the log it reads is rebuilt, never used to skip input.

``open_partitions`` over real RocksDB stores; the changelog is an in-memory list
of (marker offset, writes, marker) per partition that a stand-in for
``_catch_up`` applies the way the real one does (markers at or after the
store's ``changelog_next``). The Kafka side is in
tests/reliability/test_monitor_store.py.
"""

from __future__ import annotations

import doctest
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streamapp.monitoring.dataplane import origin, partition
from streamapp.monitoring.dataplane.origin import ClusterView, Reason
from streamapp.monitoring.dataplane.partition import Meta, Restored, open_partitions
from streamapp.monitoring.dataplane.store import PartitionStore, data_key, entry, rocks_options
from streamapp.status.report import build_report

LOG, LABELS, CHANGELOG = "log", "labels", "changelog"
NOW = ClusterView("cluster-b", {LOG: "log-2", LABELS: "labels-2", CHANGELOG: "cl-2"},
                  {LOG: 500, LABELS: 500, CHANGELOG: 40})
Changelog = dict[int, list[tuple[int, dict[bytes, bytes | None], Meta]]]


def meta(seq: int = 3, offsets: int = 200, changelog_next: int = 20, view: ClusterView | None = NOW,
         **ids: str) -> Meta:
    m = Meta(seq, {LOG: offsets, LABELS: offsets}, 1.0, {"prediction": 1}, [],
             changelog_next)
    if view is not None:
        m.stamp(view)
        m.topic_ids.update(ids)
    return m


def test_origin_doctests() -> None:
    result = doctest.testmod(origin)
    assert result.failed == 0 and result.attempted > 0


@pytest.fixture
def opener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Restored]]:
    """Open partition 0 of ``tmp_path`` against ``changelog``; the store is closed after."""
    options = rocks_options(8)
    log: Changelog = {}
    opened: list[Restored] = []

    def catch_up(stores: dict[int, PartitionStore], metas: dict[int, Meta], *_: Any
                 ) -> tuple[dict[int, Meta], dict[int, dict[bytes, bytes | None]]]:
        newest: dict[int, Meta] = {}
        for p, store in stores.items():
            for offset, writes, marker in log.get(p, []):
                if offset >= metas[p].changelog_next:
                    marker = newest[p] = Meta.from_json(marker.to_json())
                    marker.changelog_next = offset + 1
                    store.dirty = dict(writes)
                    store.commit(marker.to_json())
        return newest, {}

    monkeypatch.setattr(partition, "_catch_up", catch_up)

    def open_(changelog: Changelog | None = None, view: ClusterView = NOW) -> Restored:
        for found in opened:
            found.state.store.close()
        opened.clear()
        log.clear()
        log.update(changelog or {})
        found = open_partitions({0: tmp_path / "0"}, options, {}, CHANGELOG, {0: view})[0]
        opened.append(found)
        return found

    yield open_
    for found in opened:
        found.state.store.close()


def disk(tmp_path: Path, m: Meta, keys: int = 3) -> None:
    """A local store with ``keys`` pending predictions, committed with ``m``."""
    store = PartitionStore(tmp_path / "0", rocks_options(8))
    store.put_many({data_key(f"e{i}"): entry(b"P", 10.0, b"x") for i in range(keys)})
    store.commit(m.to_json())
    store.close()


def test_a_store_of_this_log_is_used_as_it_is(tmp_path: Path, opener: Any) -> None:
    disk(tmp_path, meta())
    found = opener()
    assert (found.source, found.discarded, found.orphans) == ("disk", {}, [])
    assert found.state.consumed == {LOG: 200, LABELS: 200}  # replays below are skipped
    assert len(found.state.store.data_keys()) == 3


@pytest.mark.parametrize(("stale", "reason"), [
    (meta(view=ClusterView("cluster-a", NOW.topic_ids, NOW.ends)), Reason.OTHER_CLUSTER),
    (meta(log="log-1"), Reason.OTHER_TOPIC),  # deleted and created again
    (meta(changelog="cl-1"), Reason.OTHER_TOPIC),
    (meta(offsets=501), Reason.BEYOND_END),  # an input truncated or replaced
    (meta(changelog_next=41), Reason.BEYOND_END),  # the changelog truncated or replaced
    (meta(view=None), Reason.UNKNOWN_ORIGIN),  # written before stores recorded it
])
def test_a_store_of_another_log_is_rebuilt_from_the_changelog(
    tmp_path: Path, opener: Any, stale: Meta, reason: Reason
) -> None:
    disk(tmp_path, stale, keys=5)
    marker = meta(seq=2, offsets=120)
    found = opener({0: [(10, {data_key("c1"): entry(b"P", 10.0, b"y")}, marker)]})
    assert found.discarded["local"].reason == reason and "changelog" not in found.discarded
    assert found.source == "changelog"
    assert found.state.store.data_keys() == [data_key("c1")]  # nothing of the old store
    assert found.state.consumed == {LOG: 120, LABELS: 120}
    assert found.state.meta.cluster == NOW.cluster


def test_with_no_changelog_either_it_starts_from_nothing_and_skips_nothing(
    tmp_path: Path, opener: Any
) -> None:
    disk(tmp_path, meta(seq=7, view=ClusterView("cluster-a", {}, {})))
    found = opener()
    assert found.discarded["local"].reason == Reason.OTHER_CLUSTER
    assert (found.source, found.state.consumed, found.state.held) == ("empty", {}, {})
    assert found.state.store.data_keys() == []
    # sequence numbers go on: the policy agent ignores a summary at or below one it applied
    assert found.state.meta.seq == 7
    assert (found.state.meta.cluster, found.state.meta.topic_ids) == (NOW.cluster, NOW.topic_ids)


def test_a_changelog_of_other_inputs_is_voided_and_the_partition_starts_from_nothing(
    tmp_path: Path, opener: Any
) -> None:
    """Inputs deleted and created again, changelog kept: its state and offsets belong to the
    old inputs. Every key it holds is returned to be voided (tombstoned, then marked), so
    a later restore from the changelog cannot bring them back."""
    old = meta(seq=9, offsets=300, log="log-1", labels="labels-1")
    writes = {data_key(f"c{i}"): entry(b"P", 10.0, b"y") for i in range(4)}
    found = opener({0: [(5, writes, old)]})
    assert found.discarded["changelog"].reason == Reason.OTHER_TOPIC
    assert (found.source, found.state.consumed) == ("empty", {})
    assert found.orphans == sorted(writes)
    assert found.state.store.data_keys() == []
    assert found.state.meta.seq == 9


def test_an_old_changelog_marker_within_the_ends_is_trusted(tmp_path: Path, opener: Any) -> None:
    """Markers written before the upgrade carry no cluster: the changelog is on the cluster,
    so it restores (only a local store without an origin is distrusted)."""
    found = opener({0: [(5, {data_key("c"): entry(b"P", 1.0)}, meta(view=None))]})
    assert (found.source, found.discarded) == ("changelog", {})
    assert found.state.consumed == {LOG: 200, LABELS: 200}
    beyond = opener({0: [(5, {}, meta(offsets=900, view=None))]})
    assert beyond.discarded["changelog"].reason == Reason.BEYOND_END
    assert beyond.state.consumed == {}


def test_metadata_of_older_versions_still_reads() -> None:
    old = Meta.from_json(b'{"seq": 4, "offsets": {"log": 9}, "event_time": 1.0, "held": {},'
                         b' "summaries": [], "changelog_next": 3}')
    assert (old.seq, old.cluster, old.topic_ids) == (4, "", {})
    assert Meta.from_json(meta().to_json()) == meta()


def test_status_lists_each_monitor_store_with_its_health() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rebuilt = {"partition": 1, "health": "rebuilt", "source": "empty",
               "discarded": "local other_cluster (cluster a, now b)", "seq": 3}
    ok = {"partition": 0, "health": "ok", "source": "disk", "discarded": None, "seq": 8}
    beats = {"m": {"worker": "monitor/h/1", "role": "monitor", "interval_s": 5.0,
                   "heartbeat_at": now.isoformat(), "stores": [rebuilt, ok]}}
    rows = build_report(beats, [], now)["stores"]
    assert [(r["worker"], r["partition"], r["health"]) for r in rows] == [
        ("monitor/h/1", 0, "ok"), ("monitor/h/1", 1, "rebuilt")]
