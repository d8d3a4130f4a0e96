"""The HTTP endpoints of every long-running role: ``/metrics``, ``/health/live``, ``/health/ready``.

``/metrics`` is prometheus_client's own WSGI app (content negotiation,
``Accept-Encoding: gzip``, ``name[]=`` filters); the two probes answer 200 with
``ok``/``ready`` or 503 with the reason the check returned. Binds to 127.0.0.1
by default (``http.host``); the container manifests set 0.0.0.0. Served from a
daemon thread; a failing check answers 503, never crashes the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app

Check = Callable[[], bool | str | None]
"""A probe: True or None when healthy; False or a reason (str) when not."""
ReadyFn = Check
log = logging.getLogger(__name__)
_Environ = dict[str, Any]
_StartResponse = Callable[..., Any]


def probe(check: Check, failed: str) -> str | None:
    """None when ``check`` passes, else the reason (``failed`` for a bare False or an error).

    >>> probe(lambda: True, "x"), probe(lambda: False, "not ready"), probe(lambda: "why", "x")
    (None, 'not ready', 'why')
    """
    try:
        result = check()
    except Exception:  # a failing check means "not healthy", never a crashed server
        log.debug("health check failed", exc_info=True)
        return failed
    if result is True or result is None:
        return None
    return failed if result is False else str(result)


class HttpBindError(OSError):
    """The probe port cannot be bound: a configuration error (commands exit 2)."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log: wsgiref writes it raw to stderr, which would break JSON log mode."""

    def log_message(self, format: str, *args: object) -> None:
        return


class HealthServer:
    """Serves metrics and health probes from :meth:`start` until :meth:`stop`.

    Binding happens in the constructor, so a port already in use raises
    :class:`HttpBindError` there, before any worker starts. ``live`` fails liveness (the
    orchestrator restarts the process), ``ready`` takes it out of rotation.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        prometheus: CollectorRegistry = REGISTRY,
        ready: Check = lambda: True,
        live: Check = lambda: True,
    ) -> None:
        self._ready, self._live = ready, live
        self._metrics = make_wsgi_app(prometheus)
        try:
            self._server = make_server(host, port, self._app, _Server, _QuietHandler)
        except OSError as exc:
            raise HttpBindError(
                exc.errno, f"cannot serve /metrics and /health on {host}:{port}: {exc.strerror}; "
                "check http.host / http.port (STREAMAPP_HTTP__HOST, STREAMAPP_HTTP__PORT)"
            ) from None
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

    def _app(self, environ: _Environ, start_response: _StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/health/live":
            reason = probe(self._live, "not live")
            return _text(start_response, reason, "ok", environ)
        if path == "/health/ready":
            reason = probe(self._ready, "not ready")
            return _text(start_response, reason, "ready", environ)
        start_response("404 Not Found", _headers(b"not found\n"))
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else b"not found\n"]


def _headers(body: bytes) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]


def _text(
    start_response: _StartResponse, reason: str | None, ok: str, environ: _Environ
) -> list[bytes]:
    body = f"{ok if reason is None else reason}\n".encode()
    start_response("200 OK" if reason is None else "503 Service Unavailable", _headers(body))
    return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]
