"""``streamapp demo`` end to end, as a user runs it: its own embedded broker and workers.

The short run must close the loop (drift detected, retrain requested, the new
version trained onto the candidate pointer and scored in shadow, the monitor's
shadow verdict ``promote``, production moved to it by the retrainer acting on
that decision, accuracy recovered) and write non-empty PNG plots.
SIGTERM must stop every child by PID, the broker last, and still write the report.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamapp.demo.prepare import DEMO_VERDICT_MIN_SAMPLES
from streamapp.registry.registry import ModelRegistry
from tests.conftest import REPO

pytestmark = pytest.mark.integration
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("accuracy_drift.png", "throughput_latency.png")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env["STREAMAPP_MODEL__REGISTRY"] = str(REPO / "models")
    return env


def _demo(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "streamapp", "demo", "--local-broker", "--out", str(out), *args]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie child of an exited process is reaped by init; treat a non-zombie as alive.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _port_closed(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def test_short_demo_closes_the_loop_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    models_before = sorted(p.name for p in (REPO / "models" / "agrawal-clf").iterdir())
    # 100 s: under load the retrainer's first torch import alone can take 20 s, and the
    # promoted version needs time left to score 100 drifted events after the shadow phase.
    proc = subprocess.run(
        _demo(out, "--duration", "100", "--rate", "100", "--drift-at", "20", "--seed", "3"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=400,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    verdict = summary["verdict"]
    assert verdict["closed"] and verdict["new_version"] == "2"
    assert verdict["recovered_accuracy"] >= 0.85 and verdict["recovered_n"] >= 100
    kinds = [m["kind"] for m in summary["markers"]]
    assert kinds.index("drift") < kinds.index("request") < kinds.index("shadow")
    assert kinds.index("shadow") < kinds.index("verdict") < kinds.index("promotion")
    assert verdict["shadowed"] and verdict["shadow_verdict"] == "promote"
    # The monitor's shadow verdict: McNemar on labelled pairs, v2 better than v1.
    final = [d for d in summary["decisions"] if d["decision"] != "keep_collecting"]
    assert len(final) == 1, summary["decisions"]
    decision = final[0]
    assert (decision["candidate_version"], decision["primary_version"]) == ("2", "1")
    assert (decision["mode"], decision["decision"]) == ("shadow", "promote")
    assert decision["test"] in ("mcnemar_exact", "mcnemar_chi2")
    assert decision["effect"] > 0 and decision["p_value"] < decision["alpha"]
    assert decision["samples"] >= DEMO_VERDICT_MIN_SAMPLES
    # The retrainer put v2 on the candidate pointer only; production moved by the decision.
    events = summary["retrain_events"]
    trained = [e for e in events if e["event"] == "promoted"]
    assert [(e["new_version"], e["pointer"]) for e in trained] == [("2", "candidate")]
    acted = [e for e in events if e["event"] == "candidate_promoted"]
    assert [(e["version"], e["decision"]) for e in acted] == [("2", "promote")]
    registry = ModelRegistry(out / "models")
    assert registry.pointer("agrawal-clf") == "2"
    assert registry.pointer("agrawal-clf", "candidate") is None
    assert summary["counts"]["dead_letters"] == summary["counts"]["malformed_sent"] > 0
    assert 0 < summary["counts"]["labels_dropped"] < summary["counts"]["labels_sent"]
    for name in PLOTS:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert "LOOP CLOSED" in (out / "summary.md").read_text()
    assert "LOOP CLOSED" in proc.stdout
    # The demo trained into its own registry copy; the committed registry is untouched.
    assert (out / "models" / "agrawal-clf" / "2" / "manifest.json").is_file()
    assert sorted(p.name for p in (REPO / "models" / "agrawal-clf").iterdir()) == models_before
    pids = json.loads((out / "pids.json").read_text())
    assert set(pids) == {"score", "monitor", "retrain"}
    assert all(_gone(pid) for pid in pids.values())
    # Every worker keeps up without ever filling a producer buffer; the monitor logs no error.
    logs = {
        role: (out / "logs" / f"{role}.log").read_text(encoding="utf-8", errors="replace")
        for role in ("score", "monitor", "retrain")
    }
    assert not [role for role, text in logs.items() if "buffer full" in text.lower()]
    assert '"level":"ERROR"' not in logs["monitor"]


def test_sigterm_stops_everything_and_still_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.Popen(
        _demo(out, "--duration", "300", "--rate", "50"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    lines: list[str] = []
    broker = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if match := re.search(r"broker local \w+ at (\S+)", line):
                broker = match.group(1)
            if line.startswith("traffic started"):
                break
        assert broker is not None, "".join(lines)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + rest
    assert proc.returncode == 1, output[-3000:]  # interrupted: the loop did not close
    assert "(interrupted)" in output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    for name in PLOTS:
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    stops = [line.split()[1] for line in output.splitlines() if line.startswith("stopped ")]
    assert stops == ["retrain", "monitor", "score"]
    pids = json.loads((out / "pids.json").read_text())
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in pids.values())
    assert _port_closed(broker)
