"""The HTTP endpoints of both roles: ``/metrics``, ``/health/live``, ``/health/ready``.

Binds to 127.0.0.1 by default (``http.host``); the container manifests set 0.0.0.0.
Served from a daemon thread; a failing readiness check answers 503, never crashes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

ReadyFn = Callable[[], bool]


class HealthServer:
    """Serves metrics and health probes until :meth:`stop`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        registry: CollectorRegistry = REGISTRY,
        ready: ReadyFn = lambda: True,
    ) -> None:
        self._registry = registry
        self._ready = ready
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="streamapp-http", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                    self._send(200, encoder(outer._registry), content_type)
                elif path == "/health/live":
                    self._send(200, b"ok\n", "text/plain")
                elif path == "/health/ready":
                    try:
                        ok = outer._ready()
                    except Exception:
                        ok = False
                    body = b"ready\n" if ok else b"not ready\n"
                    self._send(200 if ok else 503, body, "text/plain")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
