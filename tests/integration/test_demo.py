"""``streamapp demo`` end to end, as a user runs it: its own embedded broker and workers.

The short run must close the loop (drift detected, retrain requested, the new
version trained onto the candidate pointer and scored in shadow, the monitor's
shadow verdict ``promote``, production moved to it by the retrainer acting on
that decision, accuracy recovered) and write non-empty PNG plots.
SIGTERM must stop every child by PID, the broker last, and still write the report.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.demo_support import (
    PLOTS,
    PNG_MAGIC,
    demo_command,
    demo_env,
    gone,
    port_closed,
    run_short_demo,
)

pytestmark = pytest.mark.integration


def test_short_demo_closes_the_loop_and_writes_the_report(tmp_path: Path) -> None:
    summary = run_short_demo(tmp_path)
    assert summary["format"] == "json"


def test_sigterm_stops_everything_and_still_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.Popen(
        demo_command(out, "--duration", "300", "--rate", "50"),
        env=demo_env(),
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
    while not all(gone(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(pid) for pid in pids.values())
    assert port_closed(broker)
