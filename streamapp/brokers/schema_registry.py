"""Apicurio Registry on loopback: a Schema Registry with the Confluent API, for
development (``streamapp broker --schema-registry``), demos and the tests only.

The server is Apicurio's prebuilt Quarkus application from Maven Central
(``scripts/install-apicurio.sh``, pinned in ``deploy/apicurio/pom.xml``) in a
checkout's ``.apicurio/app``; nothing is downloaded at run time. It needs Java 21+:
``$STREAMAPP_SCHEMA_REGISTRY_JAVA``, else the newest JDK 21+ in ``/usr/lib/jvm``.
Storage is in memory (a restart forgets every schema), or with ``durable`` an H2 file
in its work dir that a restart keeps, ids included. Both of its HTTP listeners are bound
to loopback.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from streamapp.brokers.process import BrokerError, BrokerProcess, free_port

CHECKOUT = Path(__file__).resolve().parents[2]
JAVA_ENV = "STREAMAPP_SCHEMA_REGISTRY_JAVA"
JVM_DIR = Path("/usr/lib/jvm")
CCOMPAT = "/apis/ccompat/v7"
"""Apicurio's Confluent-compatible API, under which ``SchemaRegistryClient`` talks."""


def find_apicurio(configured: Path | None = None) -> Path:
    """The folder holding ``quarkus-run.jar``; raises :class:`BrokerError` naming the fix."""
    app = configured or CHECKOUT / ".apicurio" / "app"
    if (app / "quarkus-run.jar").is_file():
        return app
    raise BrokerError(
        f"no Apicurio Registry in {app}: run scripts/install-apicurio.sh (Maven) first"
    )


def _major(java_home: Path) -> int:
    """The feature version a JDK folder names (``temurin-25-jdk-amd64`` → 25), else 0.

    >>> _major(Path("temurin-25-jdk-amd64")), _major(Path("java-17-openjdk")), _major(Path("x"))
    (25, 17, 0)
    """
    found = re.search(r"(?:^|-)(\d{2})(?:[.-]|$)", java_home.name)
    return int(found[1]) if found else 0


def find_java21(jvm_dir: Path = JVM_DIR) -> str:
    """A Java 21+ executable: ``$STREAMAPP_SCHEMA_REGISTRY_JAVA``, else the newest JDK 21+
    in ``jvm_dir``; raises :class:`BrokerError` in one line when there is none."""
    configured = os.environ.get(JAVA_ENV)
    if configured:
        return configured
    homes = sorted(
        (home for home in jvm_dir.glob("*") if _major(home) >= 21 and not home.is_symlink()),
        key=_major, reverse=True,
    )  # fmt: skip
    for home in homes:
        java = home / "bin" / "java"
        if java.is_file():
            return str(java)
    raise BrokerError(
        f"Apicurio Registry needs Java 21+: none in {jvm_dir}; install one (e.g. a Temurin "
        f"JDK 21+) or set {JAVA_ENV} to its java"
    )


class ApicurioRegistry:
    """One in-memory Apicurio Registry process on 127.0.0.1; a context manager.

    ``url`` is the Confluent-compatible base URL to give ``SchemaRegistryClient``
    (``schema_registry.url``). :meth:`restart` keeps the port (a registry outage and
    its end, for the tests).
    """

    kind = "apicurio"

    def __init__(
        self,
        port: int = 0,
        app: Path | None = None,
        heap: str = "256m",
        startup_timeout_s: float = 90.0,
        workdir: Path | None = None,
        durable: bool = False,
    ) -> None:
        self.app = find_apicurio(app)
        self.java = find_java21()
        self.port = port or free_port()
        self.management_port = free_port()
        self.heap = heap
        self.startup_timeout_s = startup_timeout_s
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="streamapp-sr-")
        self.root = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.durable = durable
        """Keep the schemas in an H2 file under the work dir (they survive :meth:`restart`,
        ids included), instead of memory."""
        self.process: BrokerProcess | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/apis/ccompat/v7``."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def command(self) -> list[str]:
        return [
            self.java, f"-Xmx{self.heap}",
            "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.management.host=127.0.0.1",
            f"-Dquarkus.management.port={self.management_port}",
            "-Dquarkus.banner.enabled=false",
            *([f"-Dapicurio.datasource.url=jdbc:h2:file:{self.root / 'h2' / 'registry'}"]
              if self.durable else []),
            "-jar", str(self.app / "quarkus-run.jar"),
        ]  # fmt: skip

    def start(self) -> Self:
        """Spawn the server and wait until its Confluent API answers (about 6 s)."""
        self.process = BrokerProcess(
            "apicurio-registry", self.command(), self.root / "registry.log"
        ).start()
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Poll ``GET /subjects`` until it answers 200; :class:`BrokerError` on exit or timeout."""
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        last = ""
        while time.monotonic() < deadline:
            self.process.check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/subjects", timeout=1.0) as resp:  # noqa: S310  http://127.0.0.1 only
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.1)  # the polling interval of a readiness probe
        raise BrokerError(
            f"Apicurio Registry not ready on {self.url} after {self.startup_timeout_s:.0f}s "
            f"({last}): {self.process.log_tail(1500)}"
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def stop(self) -> None:
        """SIGTERM to the PID it started (SIGKILL after a grace period); removes its temp dir."""
        if self.process is not None:
            self.process.stop(grace=15.0)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def halt(self) -> None:
        """Stop the server cleanly (SIGTERM; a ``durable`` store is flushed), keeping its work
        dir: an outage that :meth:`restart` ends."""
        if self.process is not None:
            self.process.stop(grace=15.0)

    def kill(self) -> None:
        """SIGKILL the server (a crash: H2 may lose its last writes); :meth:`restart` brings it
        back on the same port."""
        if self.process is not None:
            self.process.kill()

    def restart(self) -> None:
        """Stop (if running) and start again on the same ports (empty unless ``durable``)."""
        if self.process is not None:
            self.process.stop(grace=15.0)
        self.process = BrokerProcess(
            "apicurio-registry", self.command(), self.root / "registry.log"
        ).start(append=True)
        self.wait_ready()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
