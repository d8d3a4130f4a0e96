"""A monitor restarted on a state directory that belongs to another log joins every label.

One state directory, three lives: a monitor joins a first set of outcomes and
stops cleanly; the topic set is deleted and created again and a monitor starts
on the same directory; then a second, empty broker is started and a monitor
starts on the same directory against it (a cluster migration, a volume
restored into another environment, the default ``monitor-state`` left in a
working directory). Every outcome of every life is counted exactly: recorded
once by the policy agent, present on the joined-outcomes topic, and the
discarded stores counted and shown by ``streamapp status``. Before stores
recorded what they belong to, the second and third lives took the old stores'
input offsets as their position and skipped every record below them.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

from streamapp.brokers import ApacheKafka
from streamapp.config import TopicSettings
from streamapp.kafka.topics import ensure_topics
from streamapp.status.report import build_report, read_heartbeats
from tests.reliability.conftest import Record, Spawn
from tests.reliability.kafka_io import delivery_summary, produce_all, read_keys
from tests.reliability.procs import Proc
from tests.reliability.test_monitor_faults import MODEL, _records, monitor_env, value, wait_for
from tests.unit.monitoring.data import labels_for, predictions

LIVES = (("first run", 240), ("re-created topic set", 480), ("second broker, old disk", 720))
"""(what changed under the state directory, logged predictions): each life logs more than
the one before, so a stale store's offsets lie inside the new partitions and skip records."""
DISCARDED = "streamapp_monitor_store_discarded_total"


def _recreate(bootstrap: str, topics: TopicSettings, app_id: str) -> None:
    """Delete every topic of the set (the configured ones, the join changelog and the policy
    agent's internal topics), wait until they and the monitor's committed offsets in them are
    gone, and create the configured ones again (the monitor creates its own at start)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=10).topics
    names = [*topics.all_topics(), *(t for t in existing if t.startswith(f"{app_id}-"))]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result()
    groups = [app_id, f"{app_id}-control"]
    deadline = time.monotonic() + 30
    while (set(names) & set(admin.list_topics(timeout=10).topics)
           or _committed(admin, groups, names)):
        assert time.monotonic() < deadline, "topics or their group offsets not deleted in 30 s"
        time.sleep(0.2)
    ensure_topics({"bootstrap.servers": bootstrap}, topics.all_topics())


def _committed(admin: AdminClient, groups: list[str], topics: list[str]) -> list[str]:
    """Which of ``topics`` the groups still have committed offsets in. Kafka drops them with
    the topic, but not at once: a monitor started before would resume the new topics there
    """
    out = []
    for group in groups:
        result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        out += [tp.topic for tp in result[group].result().topic_partitions or []
                if tp.topic in topics and tp.offset >= 0]
    return out


def _life(
    bootstrap: str, topics: TopicSettings, spawn: Spawn, env: dict[str, str], prefix: str, n: int,
    recorded_before: int,
) -> tuple[Proc, dict[str, Any]]:
    """Log ``n`` predictions and their labels, start a monitor, wait for every outcome."""
    preds = predictions(n, seed=len(prefix) + n, prefix=prefix)
    produce_all(bootstrap, topics.prediction_log, _records(preds))
    produce_all(bootstrap, topics.labels, _records(labels_for(preds, correct=0.8, seed=n)))
    mon = spawn("monitor", ["monitor"], env)
    mon.wait_ready(120)
    want = recorded_before + n
    with contextlib.suppress(AssertionError):  # what arrived is counted and asserted below
        wait_for(lambda: value(mon, "streamapp_outcomes_recorded", MODEL) >= want, 90,
                 f"{want} outcomes recorded", mon)
    ids = {p.event_id for p in preds}
    seen, lost, dups = delivery_summary(read_keys(bootstrap, topics.joined_outcomes, ids, 30),
                                        ids)
    samples = mon.metrics()
    discarded = {dict(labels)["reason"] + "/" + dict(labels)["store"]: v
                 for (name, labels), v in samples.items() if name == DISCARDED}
    return mon, {
        "recorded": value(mon, "streamapp_outcomes_recorded", MODEL) - recorded_before,
        "joined": seen, "lost": lost, "duplicated": dups, "discarded": discarded,
        # the data plane's side, so a shortfall says which plane fell short
        "label_joins": sum(v for (name, _), v in samples.items()
                           if name == "streamapp_label_joins_total"),
        "summaries": samples.get(("streamapp_monitor_summaries_total", ()), 0.0),
    }


def _stores(bootstrap: str, topics: TopicSettings) -> list[dict[str, Any]]:
    """The ``stores`` rows of ``streamapp status`` (from the monitor's heartbeats)."""
    beats = read_heartbeats({"bootstrap.servers": bootstrap}, topics.status, 10)
    return list(build_report(beats, [])["stores"])


def test_monitor_on_a_store_of_another_log_rebuilds_it_and_joins_every_label(
    bootstrap: str, rtopics: TopicSettings, unique: str, spawn: Spawn, record: Record,
    tmp_path: Path,
) -> None:
    state = tmp_path / "monitor-state"
    beat = {"STREAMAPP_STATUS__HEARTBEAT_INTERVAL_S": "1"}
    env = {**monitor_env(bootstrap, rtopics, unique, state), **beat}
    results: list[dict[str, Any]] = []
    stores: list[list[dict[str, Any]]] = []

    # life 1: the first run leaves a store with offsets on disk
    mon, got = _life(bootstrap, rtopics, spawn, env, f"a{unique}", LIVES[0][1], 0)
    results.append(got)
    assert mon.stop(30) == 0

    # life 2: the topic set deleted and created again (new topic ids, same names)
    _recreate(bootstrap, rtopics, f"mon-{unique}")
    mon, got = _life(bootstrap, rtopics, spawn, env, f"b{unique}", LIVES[1][1], 0)
    results.append(got)
    stores.append(_stores(bootstrap, rtopics))
    assert mon.stop(30) == 0

    # life 3: another (empty) cluster, the same state directory
    with ApacheKafka() as other:
        second = other.bootstrap_servers
        ensure_topics({"bootstrap.servers": second}, rtopics.all_topics())
        env3 = {**monitor_env(second, rtopics, unique, state), **beat}
        mon, got = _life(second, rtopics, spawn, env3, f"c{unique}", LIVES[2][1], 0)
        results.append(got)
        stores.append(_stores(second, rtopics))
        assert mon.stop(30) == 0

    for (what, n), got in zip(LIVES, results, strict=True):
        record(scenario=f"monitor restart on an old store: {what}", events_in=n, **got)
    parts = rtopics.partitions
    for (_what, n), got in zip(LIVES, results, strict=True):
        assert (got["recorded"], got["joined"], got["lost"]) == (n, n, 0), got
    assert results[0]["discarded"] == {}
    # every partition's local store named for what it was, then rebuilt from the changelog
    assert results[1]["discarded"] == {"other_topic/local": parts}
    assert results[2]["discarded"] == {"other_cluster/local": parts}
    for life, reason in zip(stores, ("other_topic", "other_cluster"), strict=True):
        assert sorted(row["partition"] for row in life) == list(range(parts))
        assert {(row["health"], row["source"]) for row in life} == {("rebuilt", "empty")}
        assert all(f"local {reason}" in row["discarded"] for row in life), life
