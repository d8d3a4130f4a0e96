"""Security with real processes: secrets never in logs, ``config show``, metrics or DLQ records;
event size limits; every listener on loopback by default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from streamapp.brokers import ApacheKafka
from streamapp.config import TopicSettings
from tests.reliability.conftest import Record, StartScorer, topic_env
from tests.reliability.kafka_io import produce_all, read_values
from tests.reliability.procs import REPO, clean_env
from tests.scoring_support import event, good_events

SECRET_USER = "secret-keeper"
SASL_SECRET = "Zq8-sasl-secret-7f3e"
KEY_SECRET = "Kp2-key-secret-91ab"


def _listening(pid: int) -> set[str]:
    proc = psutil.Process(pid)
    return {c.laddr.ip for c in proc.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}


def test_secrets_never_leak_and_limits_hold(
    broker: ApacheKafka,
    bootstrap: str,
    rtopics: TopicSettings,
    unique: str,
    start_scorer: StartScorer,
    record: Record,
) -> None:
    secured = {
            # A real SASL_SSL/SCRAM-SHA-512 listener, as a user with a secret password
            "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": broker.sasl_ssl_bootstrap_servers,
            "STREAMAPP_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "STREAMAPP_KAFKA__SSL_CA_LOCATION": str(broker.client_conf("SSL")["ssl.ca.location"]),
            "STREAMAPP_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "STREAMAPP_KAFKA__SASL_USERNAME": SECRET_USER,
            "STREAMAPP_KAFKA__SASL_PASSWORD": SASL_SECRET,
            "STREAMAPP_KAFKA__SSL_KEY_PASSWORD": KEY_SECRET,
            "STREAMAPP_LOG__LEVEL": "DEBUG",
            # librdkafka's own debug output (it bypasses streamapp's log redactor)
            "STREAMAPP_KAFKA__EXTRA": '{"debug": "conf,security,broker"}',
    }
    worker = start_scorer(env=secured, max_event_bytes=1024)
    env = worker.env or {}
    good = good_events(300, prefix=f"s{unique}-")
    base = good[0][1]
    big = [
        (f"big{unique}-{i}".encode(), event(f"big-{i}", {}, key="k" * (1024 + 50 * i)))
        for i in range(5)
    ]
    bad = [(f"bad{unique}-{i}".encode(), b"{broken " + str(i).encode()) for i in range(5)]
    produce_all(bootstrap, rtopics.events, good + big + bad)
    preds = read_values(bootstrap, rtopics.predictions, len(good), timeout=60)
    dlq = read_values(bootstrap, rtopics.dead_letter, len(big) + len(bad), timeout=60)
    reasons = {d.key().decode(): dict(d.headers() or [])["reason"].decode() for d in dlq}

    metrics_body = worker.get("/metrics")[1]
    listening = {"worker": _listening(worker.pid)}
    node = broker.nodes[1]
    assert node.pid is not None
    listening["broker"] = _listening(node.pid)
    worker_code = worker.stop()
    show = subprocess.run(
        [sys.executable, "-m", "streamapp", "config", "show"],
        cwd=REPO,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    surfaces = {
        "worker log": worker.log_text(),
        "metrics": metrics_body,
        "config show": show.stdout + show.stderr,
        "dead letters": b"".join(d.value() for d in dlq).decode(errors="replace"),
        "predictions": b"".join(p.value() for p in preds).decode(errors="replace"),
    }
    leaks = [name for name, text in surfaces.items() if SASL_SECRET in text or KEY_SECRET in text]
    record(
        scenario="security: secrets, size limits, loopback",
        load=f"{len(good)} good, {len(big)} oversize (>1024 B), {len(bad)} invalid events",
        faults="SASL_SSL/SCRAM-SHA-512 + key password configured, DEBUG logging",
        events_in=len(good) + len(big) + len(bad),
        predictions_out=len(preds),
        dead_letters=len(dlq),
        leaks=leaks,
        listening={k: sorted(v) for k, v in listening.items()},
        log_bytes=len(surfaces["worker log"]),
    )
    assert worker_code == 0
    assert '"level"' in surfaces["worker log"]  # streamapp's JSON log lines
    assert "sasl.password" in surfaces["worker log"]  # librdkafka printed its configuration
    assert "**********" in surfaces["config show"]
    assert not leaks, f"secret found in {leaks}"
    assert {reasons[k.decode()] for k, _v in big} == {"too_large"}
    assert {reasons[k.decode()] for k, _v in bad} == {"invalid_json"}
    assert len(preds) == len(good) and base
    assert listening["worker"] == {"127.0.0.1"}, listening
    assert listening["broker"] == {"127.0.0.1"}, listening


ROLES = [
    pytest.param(["score"], "1", id="score"),
    pytest.param(["score"], "2", id="score-supervised"),
    pytest.param(["monitor"], "1", id="monitor"),
    pytest.param(["retrain"], "1", id="retrain"),
    pytest.param(["status"], "1", id="status"),
]


@pytest.mark.parametrize("log_format", ["json", "text"])
@pytest.mark.parametrize(("command", "processes"), ROLES)
def test_a_rejected_password_ends_with_the_line_naming_the_fix(
    broker: ApacheKafka,
    rtopics: TopicSettings,
    registry_dir: Path,
    tmp_path: Path,
    command: list[str],
    processes: str,
    log_format: str,
) -> None:
    """``tail -1`` of a refused start is the fix (the password setting), never a client's
    "brokers are down" from clients torn down after the refusal."""
    conf = broker.client_conf("SASL_SSL", "streamapp")
    env = {
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": conf["bootstrap.servers"],
        "STREAMAPP_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "STREAMAPP_KAFKA__SSL_CA_LOCATION": conf["ssl.ca.location"],
        "STREAMAPP_KAFKA__SASL_MECHANISM": conf["sasl.mechanism"],
        "STREAMAPP_KAFKA__SASL_USERNAME": conf["sasl.username"],
        "STREAMAPP_KAFKA__SASL_PASSWORD": "not-the-password",
        "STREAMAPP_MODEL__REGISTRY": str(registry_dir),
        "STREAMAPP_MODEL__DEVICE": "cpu",
        "STREAMAPP_MONITORING__STATE_DIR": str(tmp_path / "state"),
        "STREAMAPP_SCORING__PROCESSES": processes,
        "STREAMAPP_LOG__FORMAT": log_format,
        **topic_env(rtopics),
    }
    out = subprocess.run(
        [sys.executable, "-m", "streamapp", *command],
        cwd=REPO, env=clean_env(env), capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr[-2000:]
    last = (out.stdout + out.stderr).strip().splitlines()[-1]
    assert "STREAMAPP_KAFKA__SASL_PASSWORD" in last, out.stderr[-2000:]
    if log_format == "json":
        assert json.loads(last)["level"] == "ERROR"
    assert "not-the-password" not in out.stdout + out.stderr
