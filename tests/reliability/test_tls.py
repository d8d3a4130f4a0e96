"""A scoring worker configured for TLS (``security_protocol=SSL`` + CA) scores over a real
TLS connection with a self-signed certificate generated here; untrusted clients are refused.

TLS is terminated by :class:`~tests.reliability.tls_proxy.TlsProxy` in front of
Tansu, because Tansu 0.6.0 cannot enable its own TLS (docs/security.md).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from streamapp.kafka.embedded import find_broker_binary, free_port
from streamapp.kafka.topics import ensure_topics
from tests.reliability.conftest import Record, Spawn, make_topics, scoring_env
from tests.reliability.kafka_io import produce_all, read_values
from tests.reliability.tls_proxy import TlsProxy, self_signed
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


def test_worker_scores_over_tls_with_a_self_signed_certificate(
    tmp_path: Path, registry_dir: Path, unique: str, spawn: Spawn, record: Record
) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other_ca, _other_key = self_signed(tmp_path / "other")
    plain, tls_port = free_port(), free_port()
    broker = subprocess.Popen(
        [
            str(find_broker_binary(None)),
            "broker",
            "--silent",
            "--listener-url",
            f"tcp://127.0.0.1:{plain}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{tls_port}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    proxy = TlsProxy(cert, key, ("127.0.0.1", plain), tls_port).start()
    try:
        bootstrap = f"127.0.0.1:{tls_port}"
        tls: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": str(cert),
            "ssl.endpoint.identification.algorithm": "https",
        }
        assert _reachable(tls, 15), "broker not reachable over TLS"
        topics = make_topics(unique)
        ensure_topics(tls, topics.all_topics())
        env = scoring_env(bootstrap, topics, registry_dir, f"g-{unique}")
        env["STREAMAPP_KAFKA__SECURITY_PROTOCOL"] = "SSL"
        env["STREAMAPP_KAFKA__SSL_CA_LOCATION"] = str(cert)
        worker = spawn("score", ["score"], env)
        worker.wait_ready()
        events = good_events(500, prefix=f"t{unique}-")
        produce_all(bootstrap, topics.events, events, conf=tls)
        preds = read_values(bootstrap, topics.predictions, len(events), timeout=60, conf=tls)
        handshakes = proxy.handshakes

        untrusted = {**tls, "ssl.ca.location": str(other_ca)}
        refused_untrusted = not _reachable(untrusted, 3)
        refused_plain = not _reachable({"bootstrap.servers": bootstrap}, 3)
        code = worker.stop()
        record(
            scenario="TLS (self-signed, verified CA + host name)",
            load=f"{len(events)} events over TLS",
            faults="untrusted CA client and plaintext client attempted",
            events_in=len(events),
            predictions_out=len(preds),
            lost=len(events) - len(preds),
            tls_handshakes=handshakes,
            failed_handshakes=proxy.failed_handshakes,
        )
        assert len(preds) == len(events)
        assert handshakes >= 2  # worker consumer + producer (+ test clients)
        assert refused_untrusted and proxy.failed_handshakes >= 1
        assert refused_plain
        assert code == 0
    finally:
        proxy.stop()
        broker.terminate()
        try:
            broker.wait(10)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()


def test_tansu_native_tls_is_unusable(tmp_path: Path) -> None:
    """Pins the broker behaviour docs/security.md describes; fails once Tansu's TLS works."""
    cert, key = self_signed(tmp_path)
    binary = str(find_broker_binary(None))
    both = subprocess.run(
        [binary, "broker", "--cert", str(cert), "--key", str(key)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert both.returncode != 0
    assert "cannot be used with" in both.stderr
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    alone = subprocess.Popen(
        [
            binary,
            "broker",
            "--silent",
            "--cert",
            str(cert),
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        plain = {"bootstrap.servers": f"127.0.0.1:{port}"}
        assert _reachable(plain, 10), "with --cert alone the listener still speaks plaintext"
        tls = {**plain, "security.protocol": "SSL", "ssl.ca.location": str(cert)}
        assert not _reachable(tls, 3)
    finally:
        alone.terminate()
        alone.wait(10)
