"""``streamapp produce``: send a JSONL, CSV or Parquet file to a topic.

JSONL lines are sent as written. CSV and Parquet rows, read by pyarrow's typed
readers, become event envelopes (``--id-column``, ``--time-column``, feature
columns) when sent to the events topic and flat JSON objects elsewhere
(``--as`` overrides). ``--validate`` first runs every record through the
scoring worker's decoder for a model's manifest and, if any would be
dead-lettered, prints the counts by reason and sends nothing (exit 1).

``--format avro|protobuf|json_schema`` (default: the topic's configured format) writes
each record (a JSONL object, a CSV / Parquet row) in the Confluent wire format with
confluent-kafka's serializer, under the latest schema of ``<topic>-value`` or the
``--schema`` file registered there first; records that do not fit the schema are
counted, reported and not sent (exit 1 once the rest is acknowledged).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from streamapp.cli.app import EXIT_CONFIG, EXIT_UNREACHABLE, app, fail, settings
from streamapp.cli.io_cmd import cluster_conf, resolve_topic
from streamapp.config import ConfigError, Settings
from streamapp.ingest import tables
from streamapp.ingest.check import CheckReport, check
from streamapp.ingest.jsonl import lines, objects
from streamapp.ingest.tables import EnvelopeColumns, InputError
from streamapp.kafka.produce import KeyValue, produce_all
from streamapp.registry.manifest import Manifest
from streamapp.registry.registry import ModelRegistry, RegistryError

Records = Callable[[], Iterator[KeyValue]]
FILE_FORMATS = ("auto", "jsonl", "csv", "parquet")
VALUE_FORMATS = ("json", "avro", "protobuf", "json_schema")


def split_formats(given: list[str] | None) -> tuple[str, str | None]:
    """``--format`` values → (file format, value format or None for the topic's own).

    >>> split_formats(["csv", "avro"]), split_formats(None)
    (('csv', 'avro'), ('auto', None))
    """
    file_fmt, value_fmt = "auto", None
    for fmt in given or []:
        if fmt in VALUE_FORMATS and value_fmt is None:
            value_fmt = fmt
        elif fmt in FILE_FORMATS and file_fmt == "auto":
            file_fmt = fmt
        else:
            raise InputError(
                f"--format {fmt!r}: give at most one file format ({', '.join(FILE_FORMATS)}) "
                f"and one record format ({', '.join(VALUE_FORMATS)})")
    return file_fmt, value_fmt


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
    fmt: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            help="File format (auto, jsonl, csv, parquet) and/or record format (json, avro, "
            "protobuf, json_schema; default: the topic's configured format); repeatable.",
        ),
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(help="Schema file registered under <topic>-value before sending "
                     "(.avsc for avro, .json for json_schema); default: its latest version."),
    ] = None,
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
    from streamapp.formats.configured import topic_format

    cfg = settings(ctx)
    name = resolve_topic(cfg.topics, topic)
    try:
        file_fmt, value_fmt = split_formats(fmt)
        table_fmt = tables.table_format(file, file_fmt)
    except InputError as exc:
        raise fail(str(exc), 2) from None
    value_fmt = value_fmt or topic_format(cfg.topics, cfg.formats, name)
    if value_fmt != "json":
        if validate or dry_run or shape == "event":
            raise fail(f"--validate, --dry-run and --as event are for json records; {value_fmt} "
                       "records are checked against their schema as they are written", 2)
        _send_registry(cfg, name, value_fmt, schema, file, table_fmt, key_field, rate)
        return
    if schema is not None:
        raise fail("--schema goes with --format avro or json_schema", 2)
    if shape not in ("auto", "event", "row"):
        raise fail(f"--as must be auto, event or row, not {shape!r}", 2)
    as_events = shape == "event" or (shape == "auto" and name == cfg.topics.events)
    if (validate or dry_run) and (str(file) == "-" or not (as_events or table_fmt == "jsonl")):
        raise fail("--validate/--dry-run need a file of events (not stdin, not --as row)", 2)
    if dry_run and not validate:
        raise fail("--dry-run goes with --validate", 2)
    manifest = _manifest(cfg, model) if validate or model else None
    columns = EnvelopeColumns(
        id_column, time_column, None if features is None else features.split(",")
    )
    records = _source(file, table_fmt, as_events, columns, key_field, manifest)
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


def _send_registry(cfg: Settings, topic: str, value_fmt: str, schema: Path | None, file: Path,
                   table_fmt: str, key_field: str, rate: float) -> None:
    """Write every record in ``value_fmt`` through the Schema Registry (exit 2 without one,
    3 when it does not answer, 1 when no schema can be had or a record did not fit)."""
    import pyarrow as pa

    from streamapp.formats.writers.serialize import (
        RegistryUnreachable,
        SchemaUnavailable,
        value_encoder,
    )
    from streamapp.ingest.encode import encoded
    try:
        encoder = value_encoder(value_fmt, topic, cfg.schema_registry, schema)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_CONFIG, label="configuration error") from None
    except RegistryUnreachable as exc:
        raise fail(str(exc), EXIT_UNREACHABLE) from None
    except SchemaUnavailable as exc:
        raise fail(str(exc)) from None
    records: Iterator[tuple[bytes | None, Any]]
    if table_fmt == "jsonl":
        records = objects(file, key_field)
    else:
        text = {name: pa.string() for name in encoder.text_fields}
        records = tables.records(tables.read_batches(file, table_fmt, text), key_field)
    report = CheckReport()
    typer.echo(f"writing {value_fmt} records with {encoder.subject} version {encoder.version} "
               f"(schema id {encoder.schema_id})")
    try:
        _send(cfg, topic, paced(encoded(records, encoder, report), rate), file)
    except SchemaUnavailable as exc:
        raise fail(str(exc), EXIT_UNREACHABLE) from None
    if report.rejected:
        for line in report.lines():
            typer.echo(line)
        raise fail(f"{report.rejected} of {report.checked} records do not fit the schema of "
                   f"{encoder.subject}; they were not sent")


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
