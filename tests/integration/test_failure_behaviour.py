"""The failure-behaviour table of docs/operations.md, one test per row.

Every command runs as a real process against an address where no broker
listens (``127.0.0.1:1``) with JSON logs: one-shot commands exit 3 within the
stated bound with one line naming the setting; long-running workers keep
running, answer readiness with the reason, fail liveness after
``kafka.unreachable_liveness_s`` and rate-limit their connection errors.
Nothing on stdout or stderr may be anything but JSON.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from streamapp.brokers import free_port

pytestmark = pytest.mark.integration

UNREACHABLE = "127.0.0.1:1"
ONE_SHOT_BOUND_S = 20.0  # "about 10 s": kafka.connect_timeout_s (6 s) + interpreter start,
# which takes seconds more on a loaded 2-core machine
ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update(
        STREAMAPP_KAFKA__BOOTSTRAP_SERVERS=UNREACHABLE,
        STREAMAPP_LOG__FORMAT="json",
        STREAMAPP_MODEL__REGISTRY=str(MODELS),
        STREAMAPP_MONITORING__STATE_DIR=str(tmp_path / "state"),
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    env.update(extra)
    return env


def _json_only(text: str) -> list[dict[str, object]]:
    """Every non-empty line parsed as a JSON object (fails on the first that is not)."""
    records = []
    for line in text.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r}")
    return records


def _one_shot(args: list[str], env: dict[str, str]) -> tuple[int, list[dict[str, object]], float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "streamapp", *args], env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL,
        timeout=60, check=False,
    )
    elapsed = time.monotonic() - start
    return proc.returncode, _json_only(proc.stdout + proc.stderr), elapsed


@pytest.mark.parametrize(
    "args",
    [
        ["topics", "create"],
        ["tail", "events", "--max", "1"],
        ["produce", "-", "--topic", "events"],
        ["status"],
        ["incidents", "ack", "agrawal-clf", "1"],
    ],
    ids=["topics-create", "tail", "produce", "status", "incidents"],
)
def test_one_shot_command_exits_3_with_one_line_naming_the_setting(
    args: list[str], tmp_path: Path
) -> None:
    code, records, elapsed = _one_shot(args, _env(tmp_path))
    assert code == 3, records
    assert elapsed < ONE_SHOT_BOUND_S
    errors = [r for r in records if r["level"] == "ERROR"]
    assert len(errors) == 1, records
    assert "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS" in str(errors[0]["msg"])
    assert "Connection refused" in str(errors[0]["msg"])


def test_no_broker_configured_is_a_configuration_error(tmp_path: Path) -> None:
    code, records, elapsed = _one_shot(
        ["tail", "events"], _env(tmp_path, STREAMAPP_KAFKA__BOOTSTRAP_SERVERS="")
    )
    assert code == 2
    assert elapsed < ONE_SHOT_BOUND_S
    assert "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS" in str(records[-1]["msg"])


def test_missing_model_pointer_exits_2_with_an_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "models" / "m" / "1").mkdir(parents=True)
    env = _env(tmp_path, STREAMAPP_MODEL__REGISTRY="models", STREAMAPP_MODEL__NAME="m")
    proc = subprocess.run(
        [sys.executable, "-m", "streamapp", "score"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    (record,) = _json_only(proc.stdout + proc.stderr)
    assert f"{(tmp_path / 'models' / 'm' / 'production').resolve()} does not exist" in str(
        record["msg"]
    )


def _probe(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _wait_probe(url: str, status: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen: tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        seen = _probe(url)
        if seen[0] == status:
            return seen[1]
        time.sleep(0.2)
    pytest.fail(f"{url} answered {seen} instead of {status} within {timeout}s")


@pytest.mark.parametrize("role", ["score", "monitor"])
def test_worker_reports_the_outage_fails_liveness_and_logs_json_rate_limited(
    role: str, tmp_path: Path
) -> None:
    port = free_port()
    env = _env(
        tmp_path,
        STREAMAPP_HTTP__PORT=str(port),
        STREAMAPP_SCORING__PROCESSES="1",
        STREAMAPP_KAFKA__UNREACHABLE_LIVENESS_S="4",
        STREAMAPP_KAFKA__CONNECT_TIMEOUT_S="2",
        STREAMAPP_LOG__REPEAT_INTERVAL_S="5",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamapp", role], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        reason = _wait_probe(base + "/health/ready", 503, 60)
        assert "Kafka unreachable at 127.0.0.1:1" in reason
        assert "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS" in reason
        reason = _wait_probe(base + "/health/live", 503, 30)
        assert "kafka.unreachable_liveness_s" in reason
        time.sleep(6)  # a full repeat interval: summaries instead of one line per attempt
        assert proc.poll() is None, "a worker keeps running without its broker"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    records = _json_only(out)
    kinds = Counter(
        (r["logger"], str(r.get("kafka_error") or str(r["msg"]).split(" ", 1)[0]))
        for r in records
        if str(r["logger"]).startswith(("streamapp.kafka.client", "streamapp.kafka.librdkafka"))
    )
    assert kinds, records
    # ~20 s of reconnect attempts (hundreds without the limit): first + one per 5 s per kind
    assert max(kinds.values()) <= 6, kinds


@pytest.mark.parametrize("role", ["score", "monitor"])
def test_http_port_in_use_is_a_configuration_error(role: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = _env(tmp_path, STREAMAPP_HTTP__PORT=str(port), STREAMAPP_SCORING__PROCESSES="1",
                   STREAMAPP_KAFKA__CONNECT_TIMEOUT_S="1")
        code, records, _ = _one_shot([role], env)
    assert code == 2, records
    assert any("STREAMAPP_HTTP__PORT" in str(r["msg"]) for r in records), records


def test_retrainer_waits_for_the_cluster_logging_json_rate_limited(tmp_path: Path) -> None:
    env = _env(tmp_path, STREAMAPP_KAFKA__CONNECT_TIMEOUT_S="1",
               STREAMAPP_LOG__REPEAT_INTERVAL_S="5")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamapp", "retrain"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # its first probe failed: it is waiting now
            lines.append(proc.stdout.readline())
            if "UNREACHABLE" in lines[-1] or not lines[-1]:
                break
        time.sleep(11)  # a dozen one-second probes, two repeat intervals
        assert proc.poll() is None, "the retrainer keeps waiting for its broker"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    waits = [r for r in _json_only("".join(lines) + out) if r.get("kafka_error") == "UNREACHABLE"]
    assert 2 <= len(waits) <= 4, waits
    assert "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS" in str(waits[0]["msg"])
