"""Security with real processes: secrets never in logs, ``config show``, metrics or DLQ records;
event size limits; every listener on loopback by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

from streamapp.config import TopicSettings
from streamapp.kafka.embedded import ApacheKafka
from tests.reliability.conftest import Record, Spawn, scoring_env
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
    registry_dir: Path,
    unique: str,
    spawn: Spawn,
    record: Record,
) -> None:
    env = scoring_env(bootstrap, rtopics, registry_dir, f"g-{unique}", max_event_bytes=1024)
    env.update(
        {
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
    )
    worker = spawn("score", ["score"], env)
    worker.wait_ready()
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
