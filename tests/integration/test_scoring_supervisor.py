"""``streamapp score --processes 2``: one group, a crashed child restarted, SIGTERM drains all."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from streamapp.brokers import free_port
from streamapp.config import TopicSettings
from tests.integration.conftest import produce_all
from tests.integration.test_scoring_process import Worker, _env, _wait
from tests.scoring_support import good_events, read_n

pytestmark = pytest.mark.integration


def test_supervisor_restarts_a_killed_child_and_loses_nothing(
    bootstrap: str, topic_settings: TopicSettings, unique: str, model_registry_dir: Path,
    tmp_path: Path,
) -> None:
    n = 20000
    records = good_events(n)
    port = free_port()
    env = _env(bootstrap, topic_settings, model_registry_dir, f"g-{unique}", port,
               STREAMAPP_SCORING__PROCESSES="2", STREAMAPP_SCORING__RESTART_BACKOFF_S="0.2",
               STREAMAPP_SCORING__MAX_BATCH_SIZE="64")
    log = tmp_path / "sup.log"
    with log.open("ab") as fh:
        sup = subprocess.Popen([sys.executable, "-m", "streamapp", "score"], env=env,
                               stdout=fh, stderr=fh, stdin=subprocess.DEVNULL)
    children = [Worker(sup, port), Worker(sup, port + 1)]
    try:
        assert _wait(lambda: all(c.ready() for c in children), 90), log.read_text()[-2000:]
        pids = {p.pid for p in psutil.Process(sup.pid).children()}
        assert len(pids) == 2
        produce_all(bootstrap, topic_settings.events, records)
        assert _wait(lambda: sum(c.metric("streamapp_predictions_total") for c in children)
                     >= n // 10, 60)
        victim = sorted(pids)[0]
        psutil.Process(victim).kill()  # kill -9 one child mid-stream
        assert _wait(lambda: len({p.pid for p in psutil.Process(sup.pid).children()} - pids)
                     == 1, 30), "the killed child was not restarted"
        preds = read_n(bootstrap, topic_settings.predictions, 0, 120,
                       keys={k for k, _ in records})
        assert {m.key() for m in preds} == {k for k, _ in records}  # nothing lost
        assert _wait(lambda: all(c.ready() for c in children), 60)
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(60) == 0
        assert "restarting" in log.read_text()
    finally:
        if sup.poll() is None:
            for child in psutil.Process(sup.pid).children():
                child.kill()
            sup.kill()
            sup.wait()
    time.sleep(0.5)
    assert not [p for p in psutil.process_iter(["ppid"]) if p.info["ppid"] == sup.pid]
