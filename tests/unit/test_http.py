"""streamapp.http.HealthServer: /metrics, /health/live, /health/ready on loopback."""

from __future__ import annotations

import gzip
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from streamapp.http import HealthServer


def _get(url: str, accept: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    counter = Counter("streamapp_test_events", "test", ["topic"], registry=registry)
    counter.labels("events").inc(3)
    return registry


@pytest.fixture
def ready_flag() -> dict[str, bool]:
    return {"ready": False}


@pytest.fixture
def server(registry: CollectorRegistry, ready_flag: dict[str, bool]) -> Iterator[HealthServer]:
    srv = HealthServer("127.0.0.1", 0, registry, lambda: ready_flag["ready"]).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_binds_loopback_by_default_on_a_free_port() -> None:
    srv = HealthServer()
    try:
        host, port = srv.address
        assert host == "127.0.0.1" and port > 0
        assert srv.url == f"http://127.0.0.1:{port}"
    finally:
        srv.stop()


def test_metrics_in_prometheus_text_format(server: HealthServer) -> None:
    status, content_type, body = _get(server.url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert 'streamapp_test_events_total{topic="events"} 3.0' in body


def test_metrics_in_openmetrics_when_asked(server: HealthServer) -> None:
    status, content_type, body = _get(
        server.url + "/metrics", accept="application/openmetrics-text; version=1.0.0"
    )
    assert status == 200
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")


def test_liveness_is_ok_by_default(server: HealthServer) -> None:
    assert _get(server.url + "/health/live")[0] == 200


def test_probes_answer_503_with_the_reason_their_check_returns(
    registry: CollectorRegistry,
) -> None:
    why = {"ready": "Kafka unreachable for 12s", "live": "Kafka unreachable for 130s"}
    srv = HealthServer(
        "127.0.0.1", 0, registry, ready=lambda: why["ready"], live=lambda: why["live"]
    ).start()
    try:
        assert _get(srv.url + "/health/ready")[::2] == (503, "Kafka unreachable for 12s\n")
        assert _get(srv.url + "/health/live")[::2] == (503, "Kafka unreachable for 130s\n")
        why["ready"] = why["live"] = None  # type: ignore[assignment]
        assert _get(srv.url + "/health/ready")[::2] == (200, "ready\n")
        assert _get(srv.url + "/health/live")[::2] == (200, "ok\n")
    finally:
        srv.stop()


def test_metrics_are_gzipped_when_the_scraper_accepts_it(server: HealthServer) -> None:
    request = urllib.request.Request(server.url + "/metrics", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(response.read()).decode()
    assert 'streamapp_test_events_total{topic="events"} 3.0' in body


def test_readiness_follows_the_ready_callback(
    server: HealthServer, ready_flag: dict[str, bool]
) -> None:
    assert _get(server.url + "/health/ready")[0] == 503
    ready_flag["ready"] = True
    assert _get(server.url + "/health/ready")[:1] == (200,)
    ready_flag["ready"] = False
    assert _get(server.url + "/health/ready")[0] == 503


def test_failing_readiness_check_answers_503_and_keeps_serving(
    registry: CollectorRegistry,
) -> None:
    def broken() -> bool:
        raise RuntimeError("consumer gone")

    srv = HealthServer("127.0.0.1", 0, registry, broken).start()
    try:
        assert _get(srv.url + "/health/ready")[0] == 503
        assert _get(srv.url + "/health/live")[0] == 200
    finally:
        srv.stop()


def test_unknown_path_is_404_and_query_strings_are_ignored(server: HealthServer) -> None:
    assert _get(server.url + "/nope")[0] == 404
    assert _get(server.url + "/health/live?probe=k8s")[0] == 200


def test_stop_releases_the_port(registry: CollectorRegistry) -> None:
    srv = HealthServer("127.0.0.1", 0, registry).start()
    _, port = srv.address
    srv.stop()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_stop_is_idempotent_and_safe_before_start(registry: CollectorRegistry) -> None:
    never_started = HealthServer("127.0.0.1", 0, registry)
    never_started.stop()
    never_started.stop()
    with HealthServer("127.0.0.1", 0, registry) as srv:
        assert _get(srv.url + "/health/live")[0] == 200
    srv.stop()


def test_head_requests_answer_without_a_body(server: HealthServer) -> None:
    request = urllib.request.Request(server.url + "/health/live", method="HEAD")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert response.read() == b""


def test_port_in_use_fails_at_construction(server: HealthServer) -> None:
    _, port = server.address
    with pytest.raises(OSError):
        HealthServer("127.0.0.1", port)
