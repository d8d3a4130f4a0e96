"""Supervisor pieces without processes of streamapp: child environments and restart backoff."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from streamapp.config import Settings
from streamapp.scoring.supervisor import Child, Supervisor, child_env


def test_child_env_one_process_per_slot_with_its_own_port_and_transactional_id() -> None:
    s = Settings(http={"port": 9100}, scoring={"processes": 3, "transactional_id": "pod-a"})
    env = child_env(s, "127.0.0.1:1", 2, "/etc/streamapp.toml")
    assert env["STREAMAPP_SCORING__PROCESSES"] == "1"
    assert env["STREAMAPP_HTTP__PORT"] == "9102"
    assert env["STREAMAPP_SCORING__TRANSACTIONAL_ID"] == "pod-a-2"
    assert env["STREAMAPP_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:1"
    assert env["STREAMAPP_CONFIG"] == "/etc/streamapp.toml"
    assert child_env(Settings(), "b:1", 1, None)["STREAMAPP_HTTP__PORT"] == "0"


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
