"""``python -m streamapp score`` as real processes: SIGTERM drain, kill -9 replay, failover."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from streamapp.brokers import free_port
from streamapp.config import TopicSettings
from tests.integration.conftest import produce_all
from tests.scoring_support import good_events, read_n

pytestmark = pytest.mark.integration


class Worker:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(self.url + "/metrics", timeout=2) as resp:
            text = resp.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + "{") or line.startswith(name + " "))


def _env(bootstrap: str, topics: TopicSettings, registry: Path, group: str, port: int,
         **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update({
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "STREAMAPP_MODEL__REGISTRY": str(registry),
        "STREAMAPP_SCORING__GROUP_ID": group,
        "STREAMAPP_SCORING__PROCESSES": "1",
        "STREAMAPP_SCORING__SESSION_TIMEOUT_MS": "6000",
        "STREAMAPP_SCORING__HEARTBEAT_INTERVAL_MS": "1000",
        "STREAMAPP_SCORING__COMMIT_INTERVAL_MS": "100",
        "STREAMAPP_HTTP__PORT": str(port),
        "STREAMAPP_LOG__FORMAT": "json",
    })
    for field, value in topics.model_dump().items():
        env[f"STREAMAPP_TOPICS__{field.upper()}"] = str(value)
    env.update(extra)
    return env


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[Worker]:
    port = free_port()
    env = {**env, "STREAMAPP_HTTP__PORT": str(port)}
    with log.open("ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "streamapp", "score"], env=env,
                                stdout=fh, stderr=fh, stdin=subprocess.DEVNULL)
    worker = Worker(proc, port)
    try:
        deadline = time.monotonic() + 60
        while not worker.ready():
            assert proc.poll() is None, f"worker exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "worker not ready"
            time.sleep(0.1)
        yield worker
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_sigterm_drains_commits_and_exits_zero(
    bootstrap: str, topic_settings: TopicSettings, unique: str, model_registry_dir: Path,
    tmp_path: Path,
) -> None:
    records = good_events(3000)
    produce_all(bootstrap, topic_settings.events, records)
    env = _env(bootstrap, topic_settings, model_registry_dir, f"g-{unique}", 0)
    with worker_process(env, tmp_path / "w.log") as w:
        assert _wait(lambda: w.metric("streamapp_commits_total") > 0
                     and w.metric("streamapp_inflight_events") == 0, 60)
        w.proc.send_signal(signal.SIGTERM)
        assert w.proc.wait(30) == 0
    # a restarted worker of the same group finds nothing left to score
    with worker_process(env, tmp_path / "w2.log") as w2:
        produce_all(bootstrap, topic_settings.events, good_events(10, prefix="late"))
        assert _wait(lambda: w2.metric("streamapp_predictions_total") >= 10, 30)
        assert w2.metric("streamapp_events_consumed_total") == 10
        w2.proc.send_signal(signal.SIGTERM)
        assert w2.proc.wait(30) == 0
    assert "metrics" in (tmp_path / "w.log").read_text()


@pytest.mark.slow
def test_kill_9_then_restart_every_event_predicted_duplicates_bounded(
    bootstrap: str, topic_settings: TopicSettings, unique: str, model_registry_dir: Path,
    tmp_path: Path,
) -> None:
    n, high, batch = 30000, 2000, 32
    records = good_events(n)
    env = _env(bootstrap, topic_settings, model_registry_dir, f"g-{unique}", 0,
               STREAMAPP_SCORING__MAX_INFLIGHT_EVENTS=str(high),
               STREAMAPP_SCORING__MAX_BATCH_SIZE=str(batch))
    with worker_process(env, tmp_path / "a.log") as a:
        produce_all(bootstrap, topic_settings.events, records)
        assert _wait(lambda: a.metric("streamapp_predictions_total") >= n // 4, 60)
        a.proc.kill()
        a.proc.wait()
    before_kill = len(read_n(bootstrap, topic_settings.predictions, 10**9, timeout=2))
    assert before_kill < n, "the kill must land mid-stream"
    with worker_process(env, tmp_path / "b.log") as b:
        preds = read_n(bootstrap, topic_settings.predictions, 0, 90, keys={k for k, _ in records})
        seen = {m.key() for m in preds}
        assert seen == {k for k, _ in records}
        # everything now predicted; collect the complete output for the duplicate count
        assert _wait(lambda: b.metric("streamapp_inflight_events") == 0, 30)
        total = read_n(bootstrap, topic_settings.predictions, 10**9, timeout=3)
        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(30) == 0
    duplicates = len(total) - n
    print(f"kill -9 after {before_kill} predictions: {duplicates} duplicates")
    assert max(Counter(m.key() for m in total).values()) <= 2
    # bound: events in flight at the kill (<= high watermark + one fetch) plus one commit
    assert 0 <= duplicates <= 2 * (high + batch)


@pytest.mark.slow
def test_two_workers_split_partitions_and_survivor_takes_over(
    bootstrap: str, topic_settings: TopicSettings, unique: str, model_registry_dir: Path,
    tmp_path: Path,
) -> None:
    env = _env(bootstrap, topic_settings, model_registry_dir, f"g-{unique}", 0,
               STREAMAPP_SCORING__MAX_BATCH_SIZE="64")
    first, second = good_events(4000, prefix="a"), good_events(4000, prefix="b")
    with worker_process(env, tmp_path / "a.log") as a, \
            worker_process(env, tmp_path / "b.log") as b:
        assert _wait(lambda: a.metric("streamapp_rebalances_total") >= 1
                     and b.metric("streamapp_rebalances_total") >= 1, 30)
        produce_all(bootstrap, topic_settings.events, first)
        assert _wait(lambda: a.metric("streamapp_events_consumed_total")
                     + b.metric("streamapp_events_consumed_total") >= len(first), 60)
        consumed_a = a.metric("streamapp_events_consumed_total")
        consumed_b = b.metric("streamapp_events_consumed_total")
        assert consumed_a > 0 and consumed_b > 0, "both workers own partitions"
        a.proc.kill()
        a.proc.wait()
        produce_all(bootstrap, topic_settings.events, second)
        keys = {k for k, _ in first + second}
        preds = read_n(bootstrap, topic_settings.predictions, 0, 90, keys=keys)
        assert b.metric("streamapp_events_consumed_total") >= consumed_b + len(second)
        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(30) == 0
    assert {m.key() for m in preds} == keys
