"""Without a configured cluster every worker command refuses to start: exit 2, one line.

The line names the setting and the fix (``--local-broker`` for a development
broker); it is a JSON record under JSON logging. No broker, port or child is
started: the commands answer within an interpreter start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODELS, REPO

COMMANDS = {
    "score": ["score"],
    "score-supervised": ["score", "--processes", "2"],
    "monitor": ["monitor"],
    "monitor-supervised": ["monitor", "--processes", "2"],
    "retrain": ["retrain"],
}


def _run(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update({"STREAMAPP_MODEL__REGISTRY": str(MODELS),
                "STREAMAPP_MONITORING__STATE_DIR": str(tmp_path / "state"), **extra})
    return subprocess.run([sys.executable, "-m", "streamapp", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def _lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


@pytest.mark.parametrize("args", list(COMMANDS.values()), ids=list(COMMANDS))
def test_worker_without_a_cluster_exits_2_with_one_json_line(
    args: list[str], tmp_path: Path
) -> None:
    proc = _run(args, tmp_path, STREAMAPP_LOG__FORMAT="json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = _lines(proc)
    record = json.loads(line)
    assert record["level"] == "ERROR" and record["exit_code"] == 2
    assert "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS" in record["msg"]
    assert "kafka.bootstrap_servers" in record["msg"] and "--local-broker" in record["msg"]
    assert not (tmp_path / "state").exists()  # refused before anything was prepared


def test_text_logging_prints_the_same_single_line(tmp_path: Path) -> None:
    proc = _run(["score"], tmp_path, STREAMAPP_LOG__FORMAT="text")
    assert proc.returncode == 2
    (line,) = _lines(proc)
    assert line.startswith("error: streamapp score needs a Kafka cluster")
    assert line.endswith("or pass --local-broker for a development broker")


def test_topics_create_without_a_cluster_names_the_setting(tmp_path: Path) -> None:
    proc = _run(["topics", "create"], tmp_path, STREAMAPP_LOG__FORMAT="json")
    assert proc.returncode == 2
    (line,) = _lines(proc)
    assert "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS" in json.loads(line)["msg"]


@pytest.mark.parametrize(("args", "setting"), [
    (["score"], "STREAMAPP_FORMATS__EVENTS"),
    (["score"], "STREAMAPP_FORMATS__PREDICTIONS"),
    (["monitor"], "STREAMAPP_FORMATS__LABELS"),
    (["monitor"], "STREAMAPP_FORMATS__JOINED_OUTCOMES"),
])
def test_a_registry_format_without_a_registry_url_exits_2_with_one_line(
    args: list[str], setting: str, tmp_path: Path
) -> None:
    """Checked before the cluster is reached: the broker address below does not answer."""
    proc = _run(args, tmp_path, STREAMAPP_LOG__FORMAT="json", **{
        setting: "avro", "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = _lines(proc)
    msg = json.loads(line)["msg"]
    name = setting.removeprefix("STREAMAPP_FORMATS__").lower()
    assert f"formats.{name} = avro needs a Schema Registry" in msg
    assert "STREAMAPP_SCHEMA_REGISTRY__URL" in msg
