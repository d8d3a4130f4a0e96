"""``streamapp broker`` and ``streamapp topics``: the embedded broker and topic admin."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from streamapp.cli.app import app, fail, settings
from streamapp.kafka.embedded import BrokerError, EmbeddedBroker, kafka_bootstrap
from streamapp.kafka.topics import TopicError, ensure_topics

topics_app = typer.Typer(help="Manage the configured topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


@app.command()
def broker(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port (default: broker.port, 0 = free).")] = None,
    create_topics: Annotated[bool, typer.Option(help="Create the configured topics.")] = True,
) -> None:
    """Run the embedded broker on 127.0.0.1 until SIGINT/SIGTERM; prints its bootstrap address."""
    cfg = settings(ctx)
    broker_settings = cfg.broker if port is None else cfg.broker.model_copy(update={"port": port})
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with EmbeddedBroker(broker_settings) as running:
            if create_topics:
                ensure_topics(
                    cfg.kafka.librdkafka(running.bootstrap_servers), cfg.topics.all_topics()
                )
            typer.echo(running.bootstrap_servers, color=False)
            typer.echo(
                f"export STREAMAPP_KAFKA__BOOTSTRAP_SERVERS={running.bootstrap_servers}", err=True
            )
            while not stop.wait(0.5):
                if running.process is None or running.process.poll() is not None:
                    raise fail("embedded broker exited unexpectedly")
    except (BrokerError, TopicError) as exc:
        raise fail(str(exc)) from None


@topics_app.command("create")
def create(ctx: typer.Context) -> None:
    """Create every configured topic (idempotent) with the configured partition counts.

    With no bootstrap servers configured this starts an embedded broker, creates
    the topics and stops it again — useful only as a smoke test.
    """
    cfg = settings(ctx)
    try:
        with kafka_bootstrap(cfg) as servers:
            statuses = ensure_topics(
                cfg.kafka.librdkafka(servers),
                cfg.topics.all_topics(),
                cfg.topics.replication_factor,
            )
    except (BrokerError, TopicError) as exc:
        raise fail(str(exc)) from None
    for status in statuses:
        verb = "created" if status.created else "exists "
        typer.echo(f"{verb} {status.name} partitions={status.partitions}")
