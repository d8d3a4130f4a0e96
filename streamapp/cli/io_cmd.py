"""``streamapp produce`` and ``streamapp tail``: poke at topics by hand.

``produce`` reads JSON Lines or CSV and writes one record per line/row (key:
the ``--key-field`` value when present), optionally paced to ``--rate``
records/s. ``tail`` prints records with partition, offset, key and
pretty-printed JSON. Both need ``kafka.bootstrap_servers`` (e.g. the address
``streamapp broker`` prints). Topic names may be given as configured aliases
(``events``, ``predictions``, ``prediction_log``, ``labels``, ...).
"""

from __future__ import annotations

import csv
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.syntax import Syntax

from streamapp.cli.app import app, fail, kafka_errors, reach_cluster, settings
from streamapp.config import Settings, TopicSettings
from streamapp.kafka.client_logs import with_client_logging


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


def _scalar(text: str) -> Any:
    """A CSV cell as int, float, bool or the string itself.

    >>> [_scalar(v) for v in ("3", "2.5", "true", "x", "")]
    [3, 2.5, True, 'x', None]
    """
    if text == "":
        return None
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def read_records(path: Path, fmt: str, key_field: str) -> Iterator[tuple[bytes | None, bytes]]:
    """``(key, value)`` per JSONL line / CSV row; raises ValueError naming a bad line."""
    if fmt == "auto":
        fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown format {fmt!r} (auto, jsonl or csv)")
    handle = sys.stdin if str(path) == "-" else path.open(encoding="utf-8", newline="")
    try:
        if fmt == "csv":
            for row in csv.DictReader(handle):
                record = {k: _scalar(v) for k, v in row.items() if k is not None}
                yield _key(record, key_field), json.dumps(record).encode()
            return
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number} is not JSON: {exc}") from None
            key = _key(record, key_field) if isinstance(record, dict) else None
            yield key, line.strip().encode()
    finally:
        if handle is not sys.stdin:
            handle.close()


def _key(record: dict[str, Any], field: str) -> bytes | None:
    value = record.get(field)
    return None if value is None else str(value).encode()


def render_record(
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]],
    compact: bool,
) -> tuple[str, str]:
    """``(heading, body)`` for one record: JSON pretty-printed (or compact), else the text.

    >>> render_record(0, 7, b"k", b'{"a": 1}', [], True)
    ('p0@7 key=k', '{"a":1}')
    """
    head = f"p{partition}@{offset} key={key.decode(errors='replace') if key else '-'}"
    if headers:
        head += " " + " ".join(f"{k}={(v or b'').decode(errors='replace')}" for k, v in headers)
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


@app.command()
def produce(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="JSONL (.jsonl/.json) or CSV (.csv) file; - = stdin JSONL.")
    ],
    topic: Annotated[str, typer.Option("--topic", "-t", help="Topic name or configured alias.")],
    rate: Annotated[float, typer.Option(help="Records per second; 0 = as fast as possible.")] = 0.0,
    key_field: Annotated[str, typer.Option(help="Field used as the record key.")] = "event_id",
    fmt: Annotated[str, typer.Option("--format", help="auto, jsonl or csv.")] = "auto",
) -> None:
    """Produce every record of FILE to a topic; waits for all acknowledgements."""
    from confluent_kafka import Producer

    cfg = settings(ctx)
    name = resolve_topic(cfg.topics, topic)
    producer = Producer({**cluster_conf(cfg), "linger.ms": 5})
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    sent = 0
    start = time.monotonic()
    try:
        for key, value in read_records(file, fmt, key_field):
            if rate > 0:
                delay = start + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            while True:
                try:
                    producer.produce(name, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            sent += 1
    except ValueError as exc:
        producer.flush(30)
        del producer  # the traceback keeps this frame: do not keep the client alive with it
        raise fail(f"{file}: {exc}") from None
    left = producer.flush(30)
    del producer
    if left or errors:
        raise fail(f"{left} records unacknowledged, {len(errors)} failed: {errors[:3]}")
    typer.echo(f"produced {sent} records to {name} in {time.monotonic() - start:.1f}s")


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
    """Print a topic's records (partition, offset, key, headers, pretty JSON) until stopped."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

    cfg = settings(ctx)
    name = resolve_topic(cfg.topics, topic)
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
