"""Supervisor pieces without processes of streamapp: child environments and restart backoff."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from streamapp.config import Settings
from streamapp.supervisor import Child, Supervisor, child_env


def test_child_env_one_process_per_slot_with_its_own_port_and_transactional_id() -> None:
    s = Settings(http={"port": 9100}, scoring={"processes": 3, "transactional_id": "pod-a"})
    env = child_env("score", s, "127.0.0.1:1", 2, "/etc/streamapp.toml")
    assert env["STREAMAPP_SCORING__PROCESSES"] == "1"
    assert env["STREAMAPP_HTTP__PORT"] == "9102"
    assert env["STREAMAPP_SCORING__TRANSACTIONAL_ID"] == "pod-a-2"
    assert env["STREAMAPP_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:1"
    assert env["STREAMAPP_CONFIG"] == "/etc/streamapp.toml"
    assert child_env("score", Settings(), "b:1", 1, None)["STREAMAPP_HTTP__PORT"] == "0"


def test_monitor_children_share_the_app_id_and_own_a_state_dir_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Settings(http={"port": 9200}, monitoring={
        "processes": 2, "app_id": "mon-a", "state_dir": str(tmp_path), "web_port": 6100})
    envs = [child_env("monitor", s, "127.0.0.1:1", i, None) for i in range(2)]
    assert [e["STREAMAPP_MONITORING__PROCESSES"] for e in envs] == ["1", "1"]
    assert {e["STREAMAPP_MONITORING__APP_ID"] for e in envs} == {"mon-a"}
    assert [e["STREAMAPP_MONITORING__STATE_DIR"] for e in envs] == [
        str(tmp_path / "process-0"), str(tmp_path / "process-1")]
    assert [e["STREAMAPP_HTTP__PORT"] for e in envs] == ["9200", "9201"]
    assert [e["STREAMAPP_MONITORING__WEB_PORT"] for e in envs] == ["6100", "6101"]
    for key, value in envs[1].items():  # what child 1 reads from its environment
        if key.startswith("STREAMAPP_"):
            monkeypatch.setenv(key, value)
    child = Settings()
    assert child.monitoring.processes == 1 and child.http.port == 9201
    assert child.monitoring.state_dir == tmp_path / "process-1"


def test_backoff_doubles_per_quick_crash_and_is_capped() -> None:
    child = Child(0, {}, 1.0)
    delays = []
    for _ in range(8):
        child.crashed(1, child.started)
        delays.append(child.not_before - child.started)
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(delays) == 30.0


def test_crashed_children_are_restarted_until_stopped() -> None:
    stop = threading.Event()
    sup = Supervisor([{}, {}], 0.01, 1.0, stop)
    crash = [sys.executable, "-c", "raise SystemExit(1)"]
    for child in sup.children:
        child.start = (lambda c: lambda: _start(c, crash))(child)  # type: ignore[method-assign]

    def tick(s: Supervisor) -> None:
        if all(c.restarts >= 2 for c in s.children):
            stop.set()

    assert sup.run(on_tick=tick) in (0, 1)
    assert all(c.restarts >= 2 for c in sup.children)


def _start(child: Child, argv: list[str]) -> None:
    child.proc = subprocess.Popen(argv)
    child.started = time.monotonic()


def test_default_processes_is_the_usable_core_count() -> None:
    from streamapp.settings.scoring import ScoringSettings, usable_cpus

    assert 1 <= usable_cpus() <= (os.cpu_count() or 1)
    assert ScoringSettings().processes == usable_cpus()
