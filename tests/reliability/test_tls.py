"""TLS and SASL_SSL/SCRAM on Apache Kafka's own listeners, with real streamapp processes.

The session broker (tests/conftest.py) has an SSL listener whose certificate a
CA generated for this session signed (SAN ``127.0.0.1``, so hostname
verification is on) and a SASL_SSL listener with SCRAM-SHA-512 users.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from streamapp.brokers import ApacheKafka
from streamapp.brokers.tls import make_tls_material
from streamapp.config import TopicSettings
from streamapp.retrain.events import events as retrain_log_events
from streamapp.schemas import RetrainReason, RetrainRequest
from tests.reliability.conftest import Record, Spawn, StartScorer, topic_env
from tests.reliability.kafka_io import produce_all, read_values
from tests.reliability.procs import REPO, clean_env
from tests.scoring_support import good_events


def _reachable(conf: dict[str, Any], timeout: float) -> bool:
    admin = AdminClient({**conf, "log_level": 0})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=1.0)
            return True
        except Exception:
            continue
    return False


def _security_env(conf: dict[str, Any]) -> dict[str, str]:
    """``STREAMAPP_KAFKA__*`` for a librdkafka client configuration of the session broker."""
    env = {
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": conf["bootstrap.servers"],
        "STREAMAPP_KAFKA__SECURITY_PROTOCOL": conf["security.protocol"],
        "STREAMAPP_KAFKA__SSL_CA_LOCATION": conf["ssl.ca.location"],
    }
    if "sasl.username" in conf:
        env["STREAMAPP_KAFKA__SASL_MECHANISM"] = conf["sasl.mechanism"]
        env["STREAMAPP_KAFKA__SASL_USERNAME"] = conf["sasl.username"]
        env["STREAMAPP_KAFKA__SASL_PASSWORD"] = conf["sasl.password"]
    return env


def test_worker_scores_over_verified_tls_and_bad_clients_are_refused(
    broker: ApacheKafka,
    rtopics: TopicSettings,
    unique: str,
    tmp_path: Path,
    start_scorer: StartScorer,
    record: Record,
) -> None:
    tls = broker.client_conf("SSL")
    worker = start_scorer(bootstrap_servers=tls["bootstrap.servers"], env=_security_env(tls))
    events = good_events(500, prefix=f"t{unique}-")
    produce_all(tls["bootstrap.servers"], rtopics.events, events, conf=tls)
    preds = read_values(tls["bootstrap.servers"], rtopics.predictions, len(events), 60, conf=tls)

    other_ca = make_tls_material(tmp_path / "other-ca").ca_cert
    refused_untrusted = not _reachable({**tls, "ssl.ca.location": str(other_ca)}, 3)
    refused_plain = not _reachable({"bootstrap.servers": tls["bootstrap.servers"]}, 3)
    code = worker.stop()
    record(
        scenario="TLS on Apache Kafka (generated CA, verified host name)",
        load=f"{len(events)} events over TLS",
        faults="untrusted-CA client and plaintext client attempted",
        events_in=len(events),
        predictions_out=len(preds),
        lost=len(events) - len(preds),
        refused_untrusted=refused_untrusted,
        refused_plaintext=refused_plain,
    )
    assert len(preds) == len(events)
    assert refused_untrusted and refused_plain
    assert code == 0


def test_score_and_retrain_over_sasl_ssl_scram(
    broker: ApacheKafka,
    rtopics: TopicSettings,
    registry_dir: Path,
    unique: str,
    start_scorer: StartScorer,
    record: Record,
) -> None:
    """Both Kafka roles that use librdkafka authenticate with SCRAM-SHA-512 over TLS."""
    sasl = broker.client_conf("SASL_SSL", "streamapp")
    servers = sasl["bootstrap.servers"]
    worker = start_scorer(bootstrap_servers=servers, env=_security_env(sasl))
    events = good_events(300, prefix=f"s{unique}-")
    produce_all(servers, rtopics.events, events, conf=sasl)
    preds = read_values(servers, rtopics.predictions, len(events), 60, conf=sasl)
    assert worker.stop() == 0

    request = RetrainRequest(
        model_name="agrawal-clf",
        model_version="1",
        reason=RetrainReason.ACCURACY_DROP,
        metric="accuracy",
        observed=0.5,
        threshold=0.95,
        window="count:500",
        idempotency_key=f"sasl-{unique}",
        requested_at=datetime.now(UTC),
    )
    produce_all(
        servers,
        rtopics.retrain_requests,
        [(request.idempotency_key.encode(), request.model_dump_json().encode())],
        conf=sasl,
    )
    retrain_env = {
        **_security_env(sasl),
        **topic_env(rtopics),
        "STREAMAPP_MODEL__REGISTRY": str(registry_dir),
        "STREAMAPP_LOG__FORMAT": "json",
        "STREAMAPP_RETRAIN__MAX_WAIT_S": "2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "streamapp", "retrain", "--max-requests", "1"],
        cwd=REPO, env=clean_env(retrain_env), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    kinds = [e["event"] for e in retrain_log_events(done.stderr.splitlines())]
    record(
        scenario="SASL_SSL / SCRAM-SHA-512 end to end (score, retrain)",
        load=f"{len(events)} events scored; 1 retrain request handled",
        events_in=len(events),
        predictions_out=len(preds),
        retrain_events=kinds,
    )
    assert len(preds) == len(events)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ready" in kinds and len(kinds) > 1, kinds  # it consumed the request over SASL_SSL


@pytest.mark.parametrize(
    "command",
    [["score"], ["retrain"], ["topics", "create"], ["tail", "events", "-n", "1"]],
    ids=lambda c: c[0],
)
def test_wrong_password_fails_fast_naming_the_setting(
    broker: ApacheKafka, rtopics: TopicSettings, registry_dir: Path, command: list[str]
) -> None:
    conf = broker.client_conf("SASL_SSL", "streamapp")
    env = {
        **_security_env({**conf, "sasl.password": "not-the-password"}),
        **topic_env(rtopics),
        "STREAMAPP_MODEL__REGISTRY": str(registry_dir),
        "STREAMAPP_LOG__FORMAT": "json",
    }
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "streamapp", *command],
        cwd=REPO, env=clean_env(env), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    took = time.monotonic() - started
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "STREAMAPP_KAFKA__SASL_PASSWORD" in out.stderr
    assert "not-the-password" not in out.stdout + out.stderr
    assert took < 30, f"{command}: {took:.1f}s to fail"


def test_monitor_over_sasl_ssl_with_every_security_setting_in_extra(
    broker: ApacheKafka,
    rtopics: TopicSettings,
    unique: str,
    spawn: Spawn,
    record: Record,
    tmp_path: Path,
) -> None:
    """Both planes of the monitor (librdkafka and faust/aiokafka) authenticate with SCRAM over
    TLS when the whole security set-up is given as ``kafka.extra``, as MSK/Confluent guides do."""
    from tests.reliability.test_monitor_faults import monitor_env

    sasl = broker.client_conf("SASL_SSL", "streamapp")
    servers = sasl["bootstrap.servers"]
    env = monitor_env(servers, rtopics, unique, tmp_path / "state")
    env["STREAMAPP_KAFKA__EXTRA"] = json.dumps(
        {k: str(v) for k, v in sasl.items() if k != "bootstrap.servers"}
    )
    mon = spawn("monitor", ["monitor"], env)
    waited = mon.wait_ready(120)  # data plane assigned and faust's table recovered, over SASL
    logs = mon.log_text()
    record(scenario="monitor over SASL_SSL / SCRAM-SHA-512, settings in kafka.extra",
           load="start to ready", ready_s=round(waited, 1))
    assert "cannot apply" not in logs, logs
    assert sasl["sasl.password"] not in logs
    assert mon.stop() == 0
