"""Running ``streamapp demo`` as a user does, and what every closed loop must show.

Shared by the JSON and the Avro demo tests: the command line, a clean environment, the
short run's parameters and the assertions on its report, registry copy, processes and logs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from streamapp.demo.prepare import DEMO_VERDICT_MIN_SAMPLES
from streamapp.registry.registry import ModelRegistry
from tests.conftest import REPO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("accuracy_drift.png", "throughput_latency.png")
WORKERS = frozenset({"score", "monitor", "retrain"})
SHORT_RUN = ("--duration", "100", "--rate", "100", "--drift-at", "20", "--seed", "3")
"""100 s: under load the retrainer's first torch import alone can take 20 s, and the
promoted version needs time left to score 100 drifted events after the shadow phase."""


def demo_env() -> dict[str, str]:
    """This environment without any ``STREAMAPP_*`` variable, on the committed models."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env["STREAMAPP_MODEL__REGISTRY"] = str(REPO / "models")
    return env


def demo_command(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "streamapp", "demo", "--local-broker", "--out", str(out), *args]


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie child of an exited process is reaped by init; treat a non-zombie as alive.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def port_closed(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def run_short_demo(tmp_path: Path, *args: str,
                   more_pids: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Run the short demo (:data:`SHORT_RUN` plus ``args``) into ``tmp_path/report``, assert
    that the loop closed on the shadow path and left nothing behind; the summary.

    ``more_pids``: processes in ``pids.json`` besides the workers (all must have ended).
    """
    out = tmp_path / "report"
    models_before = sorted(p.name for p in (REPO / "models" / "agrawal-clf").iterdir())
    proc = subprocess.run(
        demo_command(out, *SHORT_RUN, *args),
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=400,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
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
    assert set(pids) == WORKERS | more_pids
    assert all(gone(pid) for pid in pids.values())
    # Every worker keeps up without ever filling a producer buffer; the monitor logs no error.
    logs = {
        role: (out / "logs" / f"{role}.log").read_text(encoding="utf-8", errors="replace")
        for role in WORKERS
    }
    assert not [role for role, text in logs.items() if "buffer full" in text.lower()]
    assert '"level":"ERROR"' not in logs["monitor"]
    return summary
