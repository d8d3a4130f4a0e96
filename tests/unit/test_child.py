"""Child processes: log file, exit reported with its log tail, SIGTERM then SIGKILL by PID."""

from __future__ import annotations

import http.server
import sys
import threading
from pathlib import Path

import pytest

from streamapp.brokers import free_port
from streamapp.child import Child, ChildError


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_an_exit_is_reported_with_the_log_tail(tmp_path: Path) -> None:
    child = Child("boom", _python("print('about to fail'); raise SystemExit(3)"), {},
                  tmp_path / "boom.log", http_port=free_port()).start()
    with pytest.raises(ChildError, match=r"boom exited with 3:\nabout to fail"):
        child.wait_ready(30)
    assert child.stop() == 3


def test_stop_escalates_to_sigkill_after_the_grace(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
           "print('up', flush=True); time.sleep(60)"
    child = Child("stubborn", _python(code), {}, tmp_path / "s.log").start()
    assert child.wait_ready(5, check=lambda: "up" in child.log_text()) >= 0
    assert child.stop(grace=0.5) == -9
    assert not child.alive()


def test_readiness_and_metrics_over_http(tmp_path: Path) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'requests_total{path="a"} 2.0\nrequests_total{path="b"} 3.0\n'
            self.send_response(200 if self.path in ("/health/ready", "/metrics") else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return None

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    child = Child("svc", _python("import time; time.sleep(60)"), {}, tmp_path / "svc.log",
                  http_port=server.server_port).start()
    try:
        assert child.wait_ready(10) >= 0
        assert child.metric_sum("requests_total") == 5.0
        assert child.get("/nope")[0] == 404
    finally:
        server.shutdown()
        assert child.stop(5) == -15
