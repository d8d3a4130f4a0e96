"""``streamapp produce``: send a JSONL, CSV or Parquet file to a topic.

JSONL lines are sent as written. CSV and Parquet rows, read by pyarrow's typed
readers, become event envelopes (``--id-column``, ``--time-column``, feature
columns) when sent to the events topic and flat JSON objects elsewhere
(``--as`` overrides). ``--validate`` first runs every record through the
scoring worker's decoder for a model's manifest and, if any would be
dead-lettered, prints the counts by reason and sends nothing (exit 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from streamapp.cli.app import app, fail, settings
from streamapp.cli.io_cmd import cluster_conf, resolve_topic
from streamapp.config import Settings
from streamapp.ingest import tables
from streamapp.ingest.check import check
from streamapp.ingest.jsonl import lines
from streamapp.ingest.tables import EnvelopeColumns, InputError
from streamapp.kafka.produce import KeyValue, produce_all
from streamapp.registry.manifest import Manifest
from streamapp.registry.registry import ModelRegistry, RegistryError

Records = Callable[[], Iterator[KeyValue]]


def paced(records: Iterable[KeyValue], rate: float) -> Iterator[KeyValue]:
    """``records`` at about ``rate`` per second (0: as fast as they come)."""
    start = time.monotonic()
    for sent, record in enumerate(records):
        if rate > 0:
            delay = start + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield record


def _manifest(cfg: Settings, model: str | None) -> Manifest:
    """The serving manifest of ``model`` (default ``model.name``); exit 2 when there is none."""
    try:
        return ModelRegistry(cfg.model.registry).resolve(model or cfg.model.name).manifest
    except RegistryError as exc:
        raise fail(f"{exc} (model.registry / --model)", 2) from None


def _source(
    file: Path, fmt: str, as_events: bool, columns: EnvelopeColumns, key_field: str,
    manifest: Manifest | None,
) -> Records:
    """A function returning a fresh iterator over the file's records (read once per pass)."""
    if fmt == "jsonl":
        return lambda: lines(file, key_field)
    if not as_events:
        keyed = tables.column_types([], [key_field])
        return lambda: tables.rows(tables.read_batches(file, fmt, keyed), key_field)
    types = None
    if manifest is not None:
        if columns.features is None:
            columns = EnvelopeColumns(
                columns.id_column, columns.time_column, [f.name for f in manifest.features]
            )
        types = tables.column_types(manifest.features, [columns.id_column, columns.time_column])
    return lambda: tables.envelopes(tables.read_batches(file, fmt, types), columns)



@app.command()
def produce(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="JSONL, CSV (.csv, .csv.gz) or Parquet file; - = stdin.")
    ],
    topic: Annotated[str, typer.Option("--topic", "-t", help="Topic name or configured alias.")],
    rate: Annotated[float, typer.Option(help="Records per second; 0 = as fast as possible.")] = 0.0,
    key_field: Annotated[
        str, typer.Option(help="Field used as the record key (JSONL and flat rows).")
    ] = "event_id",
    fmt: Annotated[str, typer.Option("--format", help="auto, jsonl, csv or parquet.")] = "auto",
    shape: Annotated[
        str,
        typer.Option(
            "--as",
            help="CSV/Parquet rows as: event (envelopes), row (flat objects), "
            "auto (event for the events topic).",
        ),
    ] = "auto",
    id_column: Annotated[str, typer.Option(help="Column holding the event id.")] = "event_id",
    time_column: Annotated[
        str, typer.Option(help="Column holding the event time; 'now' stamps the send time.")
    ] = "event_time",
    features: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated feature columns; default: the model's features with "
            "--model/--validate, else every other column."
        ),
    ] = None,
    validate: Annotated[
        bool, typer.Option(help="Check every record against the model's manifest first.")
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="Model whose manifest types and checks rows.")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="With --validate: check only, send nothing.")] = (
        False
    ),
) -> None:
    """Produce every record of FILE to a topic; waits for all acknowledgements."""
    cfg = settings(ctx)
    name = resolve_topic(cfg.topics, topic)
    try:
        fmt = tables.table_format(file, fmt)
    except InputError as exc:
        raise fail(str(exc), 2) from None
    if shape not in ("auto", "event", "row"):
        raise fail(f"--as must be auto, event or row, not {shape!r}", 2)
    as_events = shape == "event" or (shape == "auto" and name == cfg.topics.events)
    if (validate or dry_run) and (str(file) == "-" or not (as_events or fmt == "jsonl")):
        raise fail("--validate/--dry-run need a file of events (not stdin, not --as row)", 2)
    if dry_run and not validate:
        raise fail("--dry-run goes with --validate", 2)
    manifest = _manifest(cfg, model) if validate or model else None
    columns = EnvelopeColumns(
        id_column, time_column, None if features is None else features.split(",")
    )
    records = _source(file, fmt, as_events, columns, key_field, manifest)
    if validate and manifest is not None:
        _validate(records, manifest, cfg.scoring.max_event_bytes, file)
        if dry_run:
            return
    _send(cfg, name, paced(records(), rate), file)


def _validate(records: Records, manifest: Manifest, max_event_bytes: int, file: Path) -> None:
    """Print what the decoder would dead-letter; exit 1 (nothing sent) if anything."""
    try:
        report = check(records(), manifest, max_event_bytes)
    except InputError as exc:
        raise fail(f"{file}: {exc}") from None
    typer.echo(
        f"checked {report.checked} records against {manifest.name} v{manifest.version}: "
        f"{report.checked - report.rejected} would be scored, "
        f"{report.rejected} would be dead-lettered"
    )
    if report.rejected:
        for line in report.lines():
            typer.echo(line)
        raise fail(f"{report.rejected} of {report.checked} records would be dead-lettered; "
                   "nothing sent")


def _send(cfg: Settings, topic: str, records: Iterator[KeyValue], file: Path) -> None:
    """Produce and wait for every acknowledgement; exit 1 naming what failed."""
    from confluent_kafka import Producer

    problems: list[InputError] = []

    def until_bad_input() -> Iterator[KeyValue]:
        try:
            yield from records
        except InputError as exc:  # stop here; what was read before it is still sent
            problems.append(exc)

    conf = {**cluster_conf(cfg), "linger.ms": 5}
    start = time.monotonic()
    # No local keeps the client: a traceback of the exits below must not keep it alive.
    sent, left, deliveries = produce_all(Producer(conf), topic, until_bad_input(), timeout=30)
    if problems:
        raise fail(f"{file}: {problems[0]} ({sent} records before it sent)")
    if left or deliveries.failed:
        raise fail(f"{left} records unacknowledged, {deliveries.failed} failed: "
                   f"{deliveries.errors[:3]}")
    typer.echo(f"produced {sent} records to {topic} in {time.monotonic() - start:.1f}s")
