"""The HTTP endpoints of both roles: ``/metrics``, ``/health/live``, ``/health/ready``.

Binds to 127.0.0.1 by default (``http.host``); the container manifests set 0.0.0.0.
Served from a daemon thread; a failing readiness check answers 503, never crashes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

ReadyFn = Callable[[], bool]
log = logging.getLogger(__name__)


class HealthServer:
    """Serves metrics and health probes from :meth:`start` until :meth:`stop`.

    Binding happens in the constructor, so a port already in use raises
    ``OSError`` there, before any worker starts.
    """

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
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long stop() may wait for the loop to notice
            name="streamapp-http",
            daemon=True,
        )
        self._lock = threading.Lock()
        self._closed = False

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
        """Stop serving and release the port; safe to call twice or without :meth:`start`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread.is_alive():
            self._server.shutdown()  # blocks until serve_forever returns
        self._server.server_close()

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _is_ready(self) -> bool:
        try:
            return bool(self._ready())
        except Exception:  # a failing check means "not ready", never a crashed server
            log.debug("readiness check failed", exc_info=True)
            return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._respond(with_body=True)

            def do_HEAD(self) -> None:
                self._respond(with_body=False)

            def _respond(self, with_body: bool) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                    self._send(200, encoder(outer._registry), content_type, with_body)
                elif path == "/health/live":
                    self._send(200, b"ok\n", "text/plain", with_body)
                elif path == "/health/ready":
                    ok = outer._is_ready()
                    body = b"ready\n" if ok else b"not ready\n"
                    self._send(200 if ok else 503, body, "text/plain", with_body)
                else:
                    self._send(404, b"not found\n", "text/plain", with_body)

            def _send(self, code: int, body: bytes, content_type: str, with_body: bool) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    if with_body:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the scraper or probe went away; nothing to answer

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
