"""``streamapp broker`` and ``streamapp topics``: a local development broker and topic admin.

Also the ``--local-broker`` option of the worker commands: the only way a worker
gets a broker it did not find configured.
"""

from __future__ import annotations

import signal
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from streamapp.brokers import ApacheKafka, BrokerError, ManagedBroker, embedded_broker
from streamapp.brokers.schema_registry import ApicurioRegistry
from streamapp.cli.app import EXIT_CONFIG, app, fail, kafka_errors, reach_cluster, settings
from streamapp.config import Settings
from streamapp.host import NoClusterError
from streamapp.kafka.topics import TopicError, ensure_topics

broker_app = typer.Typer(
    help="A local development broker (never for production): run it, install its jars.",
    no_args_is_help=False, invoke_without_command=True,
)
app.add_typer(broker_app, name="broker")
topics_app = typer.Typer(help="Manage the configured topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")

LocalBroker = Annotated[
    bool,
    typer.Option(
        "--local-broker",
        help="Development only: without kafka.bootstrap_servers, start a local broker "
        "(Apache Kafka if installed, else Tansu) for this command. Without this flag and "
        "without a configured cluster the command exits 2.",
    ),
]
"""Deliberately a flag only (no setting, no environment variable): a pod whose cluster
setting is missing must refuse to start, never quietly serve a private broker."""


def _scram_users(values: list[str]) -> dict[str, str]:
    users = {}
    for value in values:
        name, sep, password = value.partition(":")
        if not sep or not name or not password:
            raise fail(f"--scram-user {value!r}: expected NAME:PASSWORD", 2)
        users[name] = password
    return users


def _start(
    cfg: Settings, kind: str | None, nodes: int, ssl: bool, users: dict[str, str]
) -> ManagedBroker:
    chosen = cfg.broker if kind is None else cfg.broker.model_copy(update={"kind": kind})
    if nodes == 1 and not ssl and not users:
        return embedded_broker(chosen)
    if chosen.kind == "tansu":
        raise fail("--nodes, --ssl and --scram-user need Apache Kafka (--kind kafka)", 2)
    return ApacheKafka(chosen, nodes=nodes, ssl=ssl, scram_users=users)


def _describe(running: ManagedBroker) -> list[tuple[str, str]]:
    lines = [("kind", running.kind), ("PLAINTEXT", running.bootstrap_servers)]
    if isinstance(running, ApacheKafka):
        if running.ssl:
            lines.append(("SSL", running.ssl_bootstrap_servers))
        if running.scram_users:
            lines.append(("SASL_SSL (SCRAM-SHA-512)", running.sasl_ssl_bootstrap_servers))
        if running.tls is not None:
            lines.append(("CA certificate", str(running.tls.ca_cert)))
        lines.append(("data", str(running.root)))
    return lines


@broker_app.callback()
def broker(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port (default: broker.port, 0 = free).")] = None,
    kind: Annotated[
        str | None,
        typer.Option(help="kafka, tansu or auto (default: broker.kind).", show_default=False),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Apache Kafka log dir kept across restarts (default: a temp dir)."),
    ] = None,
    nodes: Annotated[int, typer.Option(min=1, max=9, help="Apache Kafka nodes (3: RF 3).")] = 1,
    ssl: Annotated[bool, typer.Option(help="Add an SSL listener (generated CA).")] = False,
    scram_user: Annotated[
        list[str] | None,
        typer.Option(help="NAME:PASSWORD of a SCRAM-SHA-512 user on a SASL_SSL listener."),
    ] = None,
    create_topics: Annotated[bool, typer.Option(help="Create the configured topics.")] = True,
    schema_registry: Annotated[
        bool,
        typer.Option("--schema-registry",
                     help="Also start a Schema Registry (Apicurio, Confluent API, in memory; "
                     "scripts/install-apicurio.sh, Java 21+) on 127.0.0.1."),
    ] = False,
) -> None:
    """Run a local development broker on 127.0.0.1 until SIGINT/SIGTERM; prints its address.

    Apache Kafka (KRaft) when installed (`streamapp broker install`), else Tansu (the
    local extra); see broker.kind. The first line on stdout is the PLAINTEXT bootstrap
    address. For development, demos and tests: never a production cluster.
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = settings(ctx)
    updates: dict[str, object] = {}
    if port is not None:
        updates["port"] = port
    if data is not None:
        updates["data_dir"] = data
    if kind is not None and kind not in ("kafka", "tansu", "auto"):
        raise fail(f"--kind {kind!r}: expected kafka, tansu or auto", 2)
    cfg = cfg.model_copy(update={"broker": cfg.broker.model_copy(update=updates)})
    users = _scram_users(scram_user or [])
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with _start(cfg, kind, nodes, ssl, users) as running, ExitStack() as stack:
            registry = (stack.enter_context(ApicurioRegistry()) if schema_registry else None)
            if create_topics:
                ensure_topics(
                    cfg.kafka.librdkafka(running.bootstrap_servers),
                    cfg.topics.all_topics(),
                    cfg.topics.replication_factor,
                    configs=cfg.topics.topic_configs(),
                )
            typer.echo(running.bootstrap_servers, color=False)
            for name, value in _describe(running):
                typer.echo(f"{name}: {value}", err=True)
            typer.echo(
                f"export STREAMAPP_KAFKA__BOOTSTRAP_SERVERS={running.bootstrap_servers}", err=True
            )
            if registry is not None:
                typer.echo(f"schema registry: {registry.url}", err=True)
                typer.echo(f"export STREAMAPP_SCHEMA_REGISTRY__URL={registry.url}", err=True)
            while not stop.wait(0.5):
                if not running.alive():
                    raise fail(f"{running.kind} broker exited unexpectedly")
                if registry is not None and not registry.alive():
                    raise fail("the schema registry exited unexpectedly")
    except (BrokerError, TopicError) as exc:
        raise fail(str(exc)) from None


@broker_app.command("install")
def install(
    ctx: typer.Context,
    dest: Annotated[
        Path | None,
        typer.Option(help="Jar folder (default: broker.kafka_libs, else the user cache).",
                     show_default=False),
    ] = None,
) -> None:
    """Download the Apache Kafka jars from Maven Central (needs mvn; the broker needs a JRE 17+).

    Into broker.kafka_libs when set, else ~/.cache/streamapp/kafka-VERSION/lib, where a
    local broker looks for them (a source checkout also finds scripts/install-kafka.sh's
    .kafka/lib). Prints the folder. Idempotent.
    """
    from streamapp.brokers.install import InstallError, install_kafka

    cfg = settings(ctx)
    try:
        folder = install_kafka(dest or cfg.broker.kafka_libs)
    except InstallError as exc:
        raise fail(str(exc)) from None
    typer.echo(str(folder))


@topics_app.command("create")
def create(ctx: typer.Context) -> None:
    """Create every configured topic (idempotent) with the configured partition counts.

    Needs kafka.bootstrap_servers (a local broker is `streamapp broker`, which creates
    them itself).
    """
    cfg = settings(ctx)
    servers = cfg.kafka.bootstrap_servers
    if not servers:
        raise fail(f"{NoClusterError('topics create', flag='')}", EXIT_CONFIG)
    try:
        with kafka_errors():
            reach_cluster(cfg, servers)
            statuses = ensure_topics(
                cfg.kafka.librdkafka(servers),
                cfg.topics.all_topics(),
                cfg.topics.replication_factor,
                configs=cfg.topics.topic_configs(),
            )
    except (BrokerError, TopicError) as exc:
        raise fail(str(exc)) from None
    for status in statuses:
        verb = "created" if status.created else "exists "
        typer.echo(f"{verb} {status.name} partitions={status.partitions}")
