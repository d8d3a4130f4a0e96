"""Apache Kafka (KRaft) on loopback: the reference broker for tests, demos and benchmarks.

The jars come from Maven Central (``streamapp broker install``, or
``scripts/install-kafka.sh`` in a source checkout); nothing is downloaded at run
time. They are looked for in ``broker.kafka_libs``, else a checkout's ``.kafka/lib``,
else :func:`user_kafka_libs` (outside site-packages, so a wheel install finds them). Each node is a
combined broker + controller JVM with its own ports and log directory. With
``data_dir`` the log survives restarts (ports and cluster id are kept there too);
without it everything lives in a temp dir deleted at :meth:`ApacheKafka.stop`.

Listeners: PLAINTEXT always; optionally SSL (a generated CA, hostname-verifiable
certificate) and SASL_SSL with SCRAM-SHA-512 users created at format time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Self

from streamapp.brokers.install import user_kafka_libs
from streamapp.brokers.process import (
    BrokerError,
    BrokerProcess,
    ManagedBroker,
    free_port,
    wait_for_brokers,
)
from streamapp.brokers.tls import TlsMaterial, make_tls_material
from streamapp.config import BrokerSettings

CHECKOUT = Path(__file__).resolve().parents[2]
"""The source checkout streamapp runs from (when it is one: ``deploy/kafka/pom.xml`` exists)."""
Listener = Literal["PLAINTEXT", "SSL", "SASL_SSL"]
SCRAM = "SCRAM-SHA-512"

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def _cluster_id() -> str:
    """A random cluster id as Kafka writes them (URL-safe base64, never a leading '-')."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def kafka_lib_dirs(configured: Path | None) -> list[Path]:
    """Where the Kafka jars are looked for, in order.

    ``broker.kafka_libs`` alone when set; else a source checkout's ``.kafka/lib``
    (``scripts/install-kafka.sh``) and :func:`user_kafka_libs` (``streamapp broker install``).
    """
    if configured is not None:
        return [configured]
    in_checkout = (CHECKOUT / "deploy" / "kafka" / "pom.xml").is_file()
    checkout = [CHECKOUT / ".kafka" / "lib"] if in_checkout else []
    return [*checkout, user_kafka_libs()]


def find_kafka_libs(configured: Path | None) -> Path:
    """The folder of Apache Kafka jars; raises :class:`BrokerError` naming the fix."""
    searched = kafka_lib_dirs(configured)
    for libs in searched:
        if any(libs.glob("kafka_2.13-*.jar")):
            return libs
    raise BrokerError(
        f"no Apache Kafka jars in {', '.join(map(str, searched))}: run `streamapp broker "
        "install` (Maven), point STREAMAPP_BROKER__KAFKA_LIBS at a folder of Kafka jars, "
        "or set STREAMAPP_BROKER__KIND=tansu"
    )


def find_java(configured: str) -> str:
    """The java executable (``broker.java``, else ``$JAVA_HOME/bin/java``, else PATH)."""
    home = os.environ.get("JAVA_HOME")
    candidates = [configured] if configured != "java" else []
    candidates += [str(Path(home) / "bin" / "java")] if home else []
    candidates.append("java")
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise BrokerError(
        "java not found: install a JRE 17+ (scripts/install-kafka.sh does), set "
        "STREAMAPP_BROKER__JAVA, or set STREAMAPP_BROKER__KIND=tansu"
    )


def kafka_available(settings: BrokerSettings) -> bool:
    """Whether Apache Kafka can be started here (jars installed and java present)."""
    try:
        find_kafka_libs(settings.kafka_libs)
        find_java(settings.java)
    except BrokerError:
        return False
    return True


class ClassDataArchive:
    """An AppCDS archive of the broker's classes: JVM start-up about 3 times faster.

    The first broker started without an archive dumps one when it exits cleanly
    (``-XX:ArchiveClassesAtExit``); later JVMs map it (``-XX:SharedArchiveFile``).
    The name hashes the JVM and jar list, so an upgrade makes a new one; a stale or
    unreadable archive is ignored by the JVM (``-Xshare:auto``). Nothing is written
    when the jar folder is read-only.
    """

    def __init__(self, java: str, libs: Path) -> None:
        jars = "\n".join(sorted(p.name for p in libs.glob("*.jar")))
        digest = hashlib.sha256(f"{os.path.realpath(java)}\n{jars}".encode()).hexdigest()[:16]
        self.path = libs.parent / "cds" / f"kafka-{digest}.jsa"
        self.pending: Path | None = None

    def flags(self, dump: bool) -> list[str]:
        if self.path.is_file():
            return [f"-XX:SharedArchiveFile={self.path}"]
        if not dump or self.pending is not None:
            return []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return []
        if not os.access(self.path.parent, os.W_OK):
            return []
        self.pending = self.path.with_name(f"{self.path.stem}.{os.getpid()}.{id(self)}.tmp")
        return [f"-XX:ArchiveClassesAtExit={self.pending}"]

    def commit(self) -> None:
        """Publish a dumped archive atomically (after the dumping JVM has exited)."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        if pending.is_file() and pending.stat().st_size > 0:
            os.replace(pending, self.path)
        else:
            pending.unlink(missing_ok=True)


@dataclass
class NodePorts:
    """The loopback ports of one node (0: listener not enabled)."""

    plaintext: int
    controller: int
    ssl: int = 0
    sasl_ssl: int = 0


class ApacheKafka(ManagedBroker):
    """A 1..N node Apache Kafka KRaft cluster on 127.0.0.1; use as a context manager.

    With three or more nodes, internal topics and new topics default to replication
    factor 3 with ``min.insync.replicas=2`` (the production-like fault-test setup).
    """

    kind = "kafka"

    def __init__(
        self,
        settings: BrokerSettings | None = None,
        *,
        nodes: int = 1,
        ssl: bool = False,
        scram_users: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.settings = settings or BrokerSettings()
        self.libs = find_kafka_libs(self.settings.kafka_libs)
        self.java = find_java(self.settings.java)
        self.node_count = nodes
        self.scram_users = dict(scram_users or {})
        self.ssl = ssl or bool(self.scram_users)
        self.data_dir = data_dir or self.settings.data_dir
        self.root = Path(self.data_dir or tempfile.mkdtemp(prefix="streamapp-kafka-"))
        self.root.mkdir(parents=True, exist_ok=True)
        # A temp root goes with the object: at stop(), or when a never-started one is collected.
        self._remove_temp: Callable[[], object] = lambda: None
        if self.data_dir is None:
            self._remove_temp = weakref.finalize(self, shutil.rmtree, self.root, True)
        self.ports, self.cluster_id = self._load_or_pick_layout()
        self.tls: TlsMaterial | None = None
        self.nodes: dict[int, BrokerProcess] = {}
        self.cds = ClassDataArchive(self.java, self.libs)

    # -- addresses -------------------------------------------------------------------------
    def _servers(self, attr: str) -> str:
        host = self.settings.host
        return ",".join(f"{host}:{getattr(p, attr)}" for p in self.ports.values())

    @property
    def bootstrap_servers(self) -> str:  # type: ignore[override]
        return self._servers("plaintext")

    @property
    def ssl_bootstrap_servers(self) -> str:
        return self._servers("ssl")

    @property
    def sasl_ssl_bootstrap_servers(self) -> str:
        return self._servers("sasl_ssl")

    def client_conf(
        self, listener: Listener = "PLAINTEXT", user: str | None = None
    ) -> dict[str, Any]:
        """librdkafka properties for ``listener`` (SASL_SSL: as ``user``, a SCRAM user)."""
        if listener == "PLAINTEXT":
            return {"bootstrap.servers": self.bootstrap_servers}
        assert self.tls is not None, "start the broker with ssl=True or scram_users"
        conf: dict[str, Any] = {
            "security.protocol": listener,
            "ssl.ca.location": str(self.tls.ca_cert),
            "ssl.endpoint.identification.algorithm": "https",
        }
        if listener == "SSL":
            conf["bootstrap.servers"] = self.ssl_bootstrap_servers
            return conf
        name = user or next(iter(self.scram_users))
        conf.update(
            {
                "bootstrap.servers": self.sasl_ssl_bootstrap_servers,
                "sasl.mechanism": SCRAM,
                "sasl.username": name,
                "sasl.password": self.scram_users[name],
            }
        )
        return conf

    # -- layout ----------------------------------------------------------------------------
    def _load_or_pick_layout(self) -> tuple[dict[int, NodePorts], str]:
        """Ports and cluster id: kept in ``cluster.json`` so a restart reuses the addresses."""
        layout = self.root / "cluster.json"
        if layout.is_file():
            saved = json.loads(layout.read_text())
            ports = {int(k): NodePorts(**v) for k, v in saved["ports"].items()}
            if len(ports) != self.node_count:
                raise BrokerError(
                    f"{self.root} holds a {len(ports)}-node cluster, {self.node_count} requested"
                )
            return ports, str(saved["cluster_id"])
        host = self.settings.host
        ports = {}
        for node_id in range(1, self.node_count + 1):
            first = self.settings.port if (node_id == 1 and self.settings.port) else 0
            ports[node_id] = NodePorts(
                plaintext=first or free_port(host),
                controller=free_port(host),
                ssl=free_port(host) if self.ssl else 0,
                sasl_ssl=free_port(host) if self.scram_users else 0,
            )
        cluster_id = _cluster_id()
        saved = {"cluster_id": cluster_id, "ports": {k: asdict(v) for k, v in ports.items()}}
        layout.write_text(json.dumps(saved))
        return ports, cluster_id

    def _properties(self, node_id: int) -> str:
        host, p = self.settings.host, self.ports[node_id]
        voters = ",".join(f"{n}@{host}:{q.controller}" for n, q in self.ports.items())
        listeners = {"PLAINTEXT": p.plaintext, "CONTROLLER": p.controller}
        if p.ssl:
            listeners["SSL"] = p.ssl
        if p.sasl_ssl:
            listeners["SASL_SSL"] = p.sasl_ssl
        advertised = {k: v for k, v in listeners.items() if k != "CONTROLLER"}
        rf = 3 if self.node_count >= 3 else 1
        isr = 2 if rf == 3 else 1
        props = {
            "process.roles": "broker,controller",
            "node.id": node_id,
            "controller.quorum.voters": voters,
            "listeners": ",".join(f"{k}://{host}:{v}" for k, v in listeners.items()),
            "advertised.listeners": ",".join(f"{k}://{host}:{v}" for k, v in advertised.items()),
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
            "SSL:SSL,SASL_SSL:SASL_SSL",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": self.root / f"node-{node_id}" / "data",
            "num.partitions": 1,
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "transaction.state.log.num.partitions": 10,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            # Tests and demos join groups constantly; the 3 s default only delays them.
            "group.initial.rebalance.delay.ms": 0,
        }
        if self.tls is not None:
            props.update(
                {
                    "ssl.keystore.type": "PKCS12",
                    "ssl.keystore.location": self.tls.keystore,
                    "ssl.keystore.password": self.tls.keystore_password,
                    "ssl.key.password": self.tls.keystore_password,
                    "ssl.client.auth": "none",
                }
            )
        if self.scram_users:
            props["sasl.enabled.mechanisms"] = SCRAM
            props[f"listener.name.sasl_ssl.{SCRAM.lower()}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _java(self, *args: str, node_dir: Path, tool: bool = False) -> list[str]:
        """A JVM command line; ``tool``: a short-lived command (C1 only, small heap)."""
        memory = (
            ["-XX:TieredStopAtLevel=1", "-Xmx256m"]
            if tool
            else [f"-Xmx{self.settings.heap}", f"-Xms{self.settings.heap}"]
        )
        return [
            self.java,
            *memory,
            *self.cds.flags(dump=not tool),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            "-Djava.net.preferIPv4Stack=true",  # listeners on 127.0.0.1, not ::ffff:127.0.0.1
            f"-Dlog4j2.configurationFile={node_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node_dir}",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def _prepare(self) -> None:
        """Write each node's config and format its storage once (skipped when formatted)."""
        if self.ssl and self.tls is None:
            self.tls = make_tls_material(self.root / "tls")
        formats: list[tuple[int, subprocess.Popen[bytes], Path]] = []
        for node_id in self.ports:
            node_dir = self.root / f"node-{node_id}"
            node_dir.mkdir(exist_ok=True)
            (node_dir / "server.properties").write_text(self._properties(node_id))
            (node_dir / "log4j2.properties").write_text(
                _LOG4J2.format(log=node_dir / "server.log")
            )
            if (node_dir / "data" / "meta.properties").is_file():
                continue
            cmd = self._java(
                "kafka.tools.StorageTool", "format", "--ignore-formatted",
                "-t", self.cluster_id, "-c", str(node_dir / "server.properties"),
                node_dir=node_dir, tool=True,
            )  # fmt: skip
            for name, password in self.scram_users.items():
                cmd += ["--add-scram", f"{SCRAM}=[name={name},password={password}]"]
            log = node_dir / "format.log"
            with log.open("wb") as fh:
                formats.append((node_id, subprocess.Popen(cmd, stdout=fh, stderr=fh), log))
        for node_id, proc, log in formats:
            if proc.wait(120) != 0:
                raise BrokerError(
                    f"formatting node {node_id} failed: {log.read_text(errors='replace')[-2000:]}"
                )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        """Format (first start only), start every node, wait until all are registered."""
        try:
            self._prepare()
            for node_id in self.ports:
                self.start_node(node_id, wait=False)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def start_node(self, node_id: int, wait: bool = True) -> None:
        """(Re)start one node's JVM; with ``wait``, block until all nodes are registered."""
        node_dir = self.root / f"node-{node_id}"
        cmd = self._java("kafka.Kafka", str(node_dir / "server.properties"), node_dir=node_dir)
        proc = BrokerProcess(f"kafka node {node_id}", cmd, node_dir / "stdout.log")
        proc.start()
        self.nodes[node_id] = proc
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Block until a metadata request lists every running node."""
        running = [p for p in self.nodes.values() if p.alive()]
        wait_for_brokers(
            self.bootstrap_servers,
            len(running),
            self.settings.startup_timeout_s,
            running,
        )

    def stop_node(self, node_id: int, timeout: float = 30.0) -> None:
        """Clean shutdown (SIGTERM) of one node."""
        self.nodes[node_id].stop(timeout)

    def kill_node(self, node_id: int) -> None:
        """SIGKILL one node (fault injection)."""
        self.nodes[node_id].kill()

    def alive(self) -> bool:
        return bool(self.nodes) and all(p.alive() for p in self.nodes.values())

    def kill(self) -> None:
        """SIGKILL every node; a persistent ``data_dir`` keeps what was flushed."""
        for node in self.nodes.values():
            node.kill()
        self.stop()

    def stop(self) -> None:
        """SIGTERM every node at once, SIGKILL stragglers; delete the temp dir if any."""
        for node in self.nodes.values():
            node.terminate()
        for node in self.nodes.values():
            node.stop(30 if self.node_count == 1 else 15)
        self.nodes.clear()
        self.cds.commit()
        self._remove_temp()
