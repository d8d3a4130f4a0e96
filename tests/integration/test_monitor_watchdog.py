"""The control plane's start guard: a monitor whose faust side never becomes ready re-executes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamapp.config import TopicSettings

pytestmark = pytest.mark.integration


def test_never_ready_monitor_restarts_then_exits_3(
    bootstrap: str, topic_settings: TopicSettings, unique: str, tmp_path: Path
) -> None:
    """A 0.5 s readiness deadline cannot be met (group joins take seconds on this broker):
    the process re-executes itself (same PID) twice, then gives up with exit code 3."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMAPP_", "_STREAMAPP_"))}
    env.update(
        {
            "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "STREAMAPP_LOG__FORMAT": "json",
            "STREAMAPP_MONITORING__APP_ID": f"wd-{unique}",
            "STREAMAPP_MONITORING__CONTROL_START_TIMEOUT_S": "0.5",
            "STREAMAPP_MONITORING__CONTROL_START_RESTARTS": "2",
            "STREAMAPP_MONITORING__STATE_DIR": str(tmp_path / "state"),
            "STREAMAPP_TOPICS__PREDICTION_LOG": topic_settings.prediction_log,
            "STREAMAPP_TOPICS__LABELS": topic_settings.labels,
            "STREAMAPP_TOPICS__MONITORING_SUMMARIES": topic_settings.monitoring_summaries,
            "STREAMAPP_TOPICS__JOINED_OUTCOMES": topic_settings.joined_outcomes,
            "STREAMAPP_TOPICS__DEAD_LETTER": topic_settings.dead_letter,
            "STREAMAPP_TOPICS__RETRAIN_REQUESTS": topic_settings.retrain_requests,
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "streamapp", "monitor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    restarts = [line for line in proc.stderr.splitlines() if "re-executing" in line]
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert len(restarts) == 3, proc.stderr[-3000:]
    pids = {line.split('"pid":')[1].split(",")[0] for line in restarts}
    assert len(pids) == 1, "re-execution must keep the PID supervisors track"
    assert "never became ready after 2 restarts" in proc.stderr
