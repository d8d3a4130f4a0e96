"""``streamapp tail`` and the helpers ``tail`` and ``produce`` share: look at topics by hand.

``tail`` prints records with partition, offset, key and pretty-printed JSON;
Avro, Protobuf and JSON Schema values in the Confluent wire format (recognised by
their magic byte and schema id, or expected on a topic configured with such a
format) are decoded through the Schema Registry and printed as JSON, and a value
that does not decode is shown with the reason.
Both commands need ``kafka.bootstrap_servers`` (e.g. the address ``streamapp
broker`` prints). Topic names may be given as configured aliases (``events``,
``predictions``, ``prediction_log``, ``labels``, ...).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.syntax import Syntax

from streamapp.cli.app import EXIT_CONFIG, app, fail, kafka_errors, reach_cluster, settings
from streamapp.config import ConfigError, Settings
from streamapp.kafka.client_logs import with_client_logging
from streamapp.settings.topics import TopicSettings

if TYPE_CHECKING:  # the formats load Avro, Protobuf and JSON Schema: only when tailing
    from streamapp.formats.peek import Peek, Peeked


def resolve_topic(topics: TopicSettings, name: str) -> str:
    """A configured alias (``events``, ``labels``, ``dead-letter`` ...) or a literal topic name.

    >>> resolve_topic(TopicSettings(), "dead-letter")
    'streamapp.dead-letter'
    >>> resolve_topic(TopicSettings(), "my.topic")
    'my.topic'
    """
    alias = name.replace("-", "_")
    if alias in TopicSettings.model_fields and alias not in ("partitions", "replication_factor"):
        return str(getattr(topics, alias))
    return name


def render_record(
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]],
    compact: bool,
    decoded: Peeked | None = None,
) -> tuple[str, str]:
    """``(heading, body)`` for one record: JSON pretty-printed (or compact), else the text;
    a registry-format value as ``decoded`` (its JSON, or the reason in parentheses).

    >>> render_record(0, 7, b"k", b'{"a": 1}', [], True)
    ('p0@7 key=k', '{"a":1}')
    >>> from streamapp.formats.peek import Peeked
    >>> render_record(0, 8, None, b"\\x00", [], True, Peeked("avro schema 3", '{"a": 2}'))
    ('p0@8 key=- avro schema 3', '{"a":2}')
    >>> render_record(0, 9, None, b"x", [], True, Peeked("undecodable", reason="not_wire_format"))
    ('p0@9 key=- undecodable', '(not_wire_format)')
    """
    head = f"p{partition}@{offset} key={key.decode(errors='replace') if key else '-'}"
    if headers:
        head += " " + " ".join(f"{k}={(v or b'').decode(errors='replace')}" for k, v in headers)
    if decoded is not None:
        head += f" {decoded.label}"
        if decoded.record is None:
            return head, f"({decoded.reason})"
        value = decoded.record.encode()
    text = (value or b"").decode(errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return head, text
    if compact:
        return head, json.dumps(parsed, separators=(",", ":"))
    return head, json.dumps(parsed, indent=2)


def cluster_conf(cfg: Settings) -> dict[str, Any]:
    """librdkafka properties of the configured cluster once it answered (exit 2 naming the
    setting when none is configured or credentials are rejected, 3 when unreachable)."""
    if not cfg.kafka.bootstrap_servers:
        raise fail(
            "no broker configured: set kafka.bootstrap_servers (STREAMAPP_KAFKA__BOOTSTRAP_SERVERS;"
            " for a local one, run `streamapp broker` and use the address it prints)",
            2,
        )
    reach_cluster(cfg, cfg.kafka.bootstrap_servers)
    return with_client_logging(cfg.kafka.librdkafka(cfg.kafka.bootstrap_servers))


def _peek(cfg: Settings, topic: str) -> Peek:
    """The decoder of ``topic``'s registry-format values. Without ``schema_registry.url``,
    a topic configured with a registry format exits 2 naming it; any other topic still
    tails, its wire-format values shown as undecodable with the reason."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from streamapp.formats.configured import topic_format
    from streamapp.formats.peek import Peek

    configured = topic_format(cfg.topics, cfg.formats, topic)
    if not cfg.schema_registry.url and configured == "json":
        return Peek(None, configured)
    try:
        return Peek(SchemaRegistryClient(cfg.schema_registry.client_conf()), configured)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_CONFIG, label="configuration error") from None


@app.command()
def tail(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="Topic name or configured alias.")],
    from_beginning: Annotated[
        bool, typer.Option(help="Start at the oldest record (default: only new records).")
    ] = False,
    max_records: Annotated[
        int, typer.Option("--max", "-n", help="Stop after N records; 0 = never.")
    ] = 0,
    timeout: Annotated[
        float, typer.Option(help="Stop after S seconds without a record; 0 = never.")
    ] = 0.0,
    raw: Annotated[
        bool, typer.Option(help="One compact line per record (default without a TTY).")
    ] = False,
) -> None:
    """Print a topic's records (partition, offset, key, headers, pretty JSON) until stopped;
    Avro, Protobuf and JSON Schema values are decoded through the Schema Registry."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

    cfg = settings(ctx)
    name = resolve_topic(cfg.topics, topic)
    peek = _peek(cfg, name)
    consumer = Consumer(
        {
            **cluster_conf(cfg),
            "group.id": f"streamapp-tail-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    out = Console(soft_wrap=True)
    compact = raw or not sys.stdout.isatty()
    seen = 0
    last = time.monotonic()
    with kafka_errors():
        try:
            # Assigned, not subscribed: tail joins no group, so it starts at once and
            # never takes partitions from a real consumer group.
            meta = consumer.list_topics(name, timeout=15).topics.get(name)
            if meta is None or meta.error is not None or not meta.partitions:
                raise fail(f"topic {name} does not exist")
            start = OFFSET_BEGINNING if from_beginning else OFFSET_END
            consumer.assign([TopicPartition(name, p, start) for p in meta.partitions])
            while not stop.is_set() and (max_records == 0 or seen < max_records):
                msgs = consumer.consume(100, 0.2)
                if not msgs and timeout and time.monotonic() - last > timeout:
                    break
                for msg in msgs:
                    if msg.error() is not None or (max_records and seen >= max_records):
                        continue
                    seen += 1
                    last = time.monotonic()
                    hdrs: Any = msg.headers() or []
                    pairs: list[tuple[str, Any]] = list(
                        hdrs.items() if isinstance(hdrs, dict) else hdrs
                    )
                    headers = [(k, v if isinstance(v, bytes) else None) for k, v in pairs]
                    head, body = render_record(
                        msg.partition() or 0,
                        msg.offset() or 0,
                        msg.key(),
                        msg.value(),
                        headers,
                        compact,
                        peek.decode(msg.value()),
                    )
                    if compact:
                        typer.echo(f"{head} {body}")
                    else:
                        out.print(f"[bold cyan]{head}[/bold cyan]")
                        out.print(Syntax(body, "json", background_color="default"))
        except KeyboardInterrupt:
            pass
        finally:
            consumer.close()
