"""A loopback TLS terminator in front of the embedded broker, and a self-signed certificate.

Tansu 0.6.0's own TLS cannot be enabled (``--cert`` and ``--key`` are declared
mutually exclusive, and either one alone leaves the listener plaintext; see
docs/security.md), so the real-TLS test terminates TLS here: clients speak
TLS 1.2+/1.3 to :class:`TlsProxy`, which relays the bytes to the plaintext
broker that advertises the proxy's address.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from pathlib import Path


def self_signed(directory: Path, ip: str = "127.0.0.1") -> tuple[Path, Path]:
    """(cert.pem, key.pem): a fresh self-signed RSA certificate with ``IP:ip`` as SAN."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={ip}",
            "-addext",
            f"subjectAltName=IP:{ip}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class TlsProxy:
    """Accepts TLS on ``127.0.0.1:port`` and relays each connection to ``upstream`` in clear."""

    def __init__(self, cert: Path, key: Path, upstream: tuple[str, int], port: int) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(str(cert), str(key))
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = int(self.listener.getsockname()[1])
        self.handshakes = 0
        self.failed_handshakes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="tls-proxy")

    def start(self) -> TlsProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _addr = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            self.failed_handshakes += 1
            raw.close()
            return
        self.handshakes += 1
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until either side closes; then close both."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.close()
