"""The join data plane on streamapp.testing's in-memory cluster: no broker.

Logged predictions and labels in; joined outcomes, summaries and changelog out,
through the real join, checkpoint and restore code. A crash at an ABORT marker
after some checkpoints, then a new worker over the same store directory,
changelog and uncommitted input, gives what an uninterrupted run gives: every
outcome, summaries that merge to the same numbers, joins counted once.
"""

from __future__ import annotations

import doctest
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.monitoring.dataplane.store import META_KEY
from streamapp.monitoring.dataplane.worker import JoinWorker
from streamapp.statistics.summary import Stats, Summary
from streamapp.testing.cluster import ABORT, EOF, Aborted, InMemoryCluster, join_io
from tests.conftest import MODELS
from tests.unit.monitoring.data import labels_for, predictions

N = 240
PARTITIONS = 2


def _settings(state: Path) -> Settings:
    return Settings(
        kafka={"bootstrap_servers": "unused:9092"},
        model={"registry": str(MODELS)},
        sampling={"log_rate": 1.0},
        monitoring={"state_dir": str(state), "checkpoint_interval_s": 1e-6,
                    "fetch_size": 1000},
    )


def _cluster(settings: Settings, markers: dict[int, Any] | None = None,
             lose_async_commits: bool = False) -> InMemoryCluster:
    """Every logged prediction, then every label; ``markers``: label index → marker
    placed in that label's partition just before it."""
    cluster = InMemoryCluster(PARTITIONS, lose_async_commits=lose_async_commits)
    preds = predictions(N)
    labels = labels_for(preds, 0.8)
    topics = settings.topics
    for p in preds:
        cluster.produce(topics.prediction_log, p.event_id.encode(), p.model_dump_json().encode())
    for i, lab in enumerate(labels):
        key = lab.event_id.encode()
        if markers and i in markers:
            cluster.mark(topics.labels, cluster_partition(cluster, key), markers[i])
        cluster.produce(topics.labels, key, lab.model_dump_json().encode())
    cluster.mark(topics.labels, 0, EOF())
    return cluster


def cluster_partition(cluster: InMemoryCluster, key: bytes) -> int:
    from streamapp.testing.cluster import partition_for

    return partition_for(key, cluster.partitions)


def _run(settings: Settings, cluster: InMemoryCluster, registry: CollectorRegistry,
         max_batch: int = 16) -> JoinWorker:
    """One worker until its source reaches the end of input (or a crash raises)."""
    stop = threading.Event()
    worker = JoinWorker(settings, join_io(cluster, settings, max_batch, stop.set), registry,
                        stop)
    worker.run()
    return worker


def _outcomes(cluster: InMemoryCluster, settings: Settings) -> list[tuple[str, str, str, Any]]:
    out = []
    for raw in cluster.values(settings.topics.joined_outcomes):
        o = msgspec.json.decode(raw)
        out.append((o["event_id"], o["model_version"], o["variant"], o["label"]))
    return out


def _summaries(cluster: InMemoryCluster, settings: Settings) -> dict[Any, dict[str, Any]]:
    """Summaries merged per (model, version, variant, group); a re-emitted one once."""
    seen: dict[tuple[str, str, str, int, int], Summary] = {}
    for raw in cluster.values(settings.topics.monitoring_summaries):
        s = Summary.from_json(raw)
        key = (s.model, s.version, s.variant, s.partition, s.seq)
        if key in seen:
            assert seen[key].to_json() == s.to_json()  # a re-emit is the same summary
        seen[key] = s
    merged: dict[Any, Stats] = {}
    for s in seen.values():
        for group, stats in s.groups.items():
            k = (s.model, s.version, s.variant, group)
            merged[k] = merged[k].merge(stats) if k in merged else stats.copy()
    return {k: v.to_dict() for k, v in merged.items()}


def _joins(registry: CollectorRegistry) -> float:
    return sum(sample.value for metric in registry.collect()
               if metric.name == "streamapp_label_joins"
               for sample in metric.samples if sample.name.endswith("_total"))


def _markers(cluster: InMemoryCluster, changelog: str) -> int:
    return sum(r.key() == META_KEY for r in cluster.records(changelog))


@pytest.fixture
def reference(tmp_path: Path) -> tuple[Settings, InMemoryCluster, CollectorRegistry]:
    """An uninterrupted run."""
    settings = _settings(tmp_path / "reference")
    cluster = _cluster(settings)
    registry = CollectorRegistry()
    _run(settings, cluster, registry)
    return settings, cluster, registry


def test_joins_every_labelled_prediction_and_checkpoints(
    reference: tuple[Settings, InMemoryCluster, CollectorRegistry],
) -> None:
    settings, cluster, registry = reference
    outcomes = _outcomes(cluster, settings)
    assert len(outcomes) == N and len({o[0] for o in outcomes}) == N
    assert _joins(registry) == N
    summaries = _summaries(cluster, settings)
    assert sum(s["joined"] for s in summaries.values()) == N
    assert sum(s["logged"] for s in summaries.values()) == N
    changelog = settings.monitoring.changelog_topic
    assert _markers(cluster, changelog) > 4  # many checkpoints, not one at the end
    # the input offsets of every partition were committed after the last checkpoint
    committed = cluster.committed[settings.monitoring.app_id]
    assert committed == {tp: end for tp, end in cluster.ends.items()
                         if tp[0] in (settings.topics.prediction_log, settings.topics.labels)}


def _voided(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("streamapp_monitor_voided_writes_total") or 0.0


def _sources(caplog: pytest.LogCaptureFixture) -> Counter[str]:
    """Where each restored partition's state came from (the "ready" log lines)."""
    return Counter(getattr(r, "source", "?") for r in caplog.records
                   if r.getMessage().startswith("join partition"))


@pytest.mark.parametrize("lose_commits", [False, True],
                         ids=["offsets-committed", "offset-commits-lost"])
@pytest.mark.parametrize(("crash_at", "orphans"), [
    (30, True),  # the crash dropped a marker whose changelog writes were delivered
    (120, True),
    (200, False),  # it dropped the writes and the marker
])
def test_crash_and_replay_gives_the_uninterrupted_result(
    tmp_path: Path, reference: tuple[Settings, InMemoryCluster, CollectorRegistry],
    crash_at: int, orphans: bool, lose_commits: bool, caplog: pytest.LogCaptureFixture,
) -> None:
    """Lost offset commits replay input the store already holds: it is skipped."""
    ref_settings, ref_cluster, _ = reference
    settings = _settings(tmp_path / "crashed")
    cluster = _cluster(settings, {crash_at: ABORT()}, lose_commits)
    first, second = CollectorRegistry(), CollectorRegistry()
    with pytest.raises(Aborted):
        _run(settings, cluster, first)
    changelog = settings.monitoring.changelog_topic
    assert cluster.crashes == 1
    assert _markers(cluster, changelog) > 0  # checkpoints were committed before the crash
    before = len(cluster.values(settings.topics.joined_outcomes))
    assert 0 < before < N

    caplog.clear()
    with caplog.at_level("INFO"):
        _run(settings, cluster, second)  # same state_dir, changelog and group offsets
    assert _sources(caplog) == Counter(disk=PARTITIONS)
    assert (_voided(second) > 0) == orphans

    outcomes = _outcomes(cluster, settings)
    expected = _outcomes(ref_cluster, ref_settings)
    assert set(outcomes) == set(expected)  # no loss (replayed outcomes may repeat)
    assert _summaries(cluster, settings) == _summaries(ref_cluster, ref_settings)
    assert _joins(first) + _joins(second) == N  # counted once durable: no double count
    for registry in (first, second):  # input the store already held was skipped, not rejoined
        for kind in ("prediction", "label"):
            assert not registry.get_sample_value("streamapp_join_duplicates_total",
                                                 {"kind": kind})


def test_a_lost_store_directory_is_restored_from_the_changelog(
    tmp_path: Path, reference: tuple[Settings, InMemoryCluster, CollectorRegistry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref_settings, ref_cluster, _ = reference
    settings = _settings(tmp_path / "crashed")
    cluster = _cluster(settings, {150: ABORT()})
    with pytest.raises(Aborted):
        _run(settings, cluster, CollectorRegistry())
    shutil.rmtree(tmp_path / "crashed")  # the pod moved: no local store
    caplog.clear()
    with caplog.at_level("INFO"):
        _run(settings, cluster, CollectorRegistry())
    assert _sources(caplog) == Counter(changelog=PARTITIONS)
    assert set(_outcomes(cluster, settings)) == set(_outcomes(ref_cluster, ref_settings))
    assert _summaries(cluster, settings) == _summaries(ref_cluster, ref_settings)


def test_doctests() -> None:
    from streamapp.monitoring.control import state
    from streamapp.testing import cluster

    for module in (cluster, state):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("module", [
    "streamapp.monitoring.dataplane.worker",
    "streamapp.monitoring.dataplane.checkpoint",
    "streamapp.monitoring.dataplane.assignment",
    "streamapp.testing.cluster",
])
def test_the_data_plane_core_does_not_import_kafka(module: str) -> None:
    """Only ``kafka_io`` (loaded by ``kafka_join_worker``) knows the Kafka client."""
    code = f"import sys, {module}; print('confluent_kafka' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
