"""One input topic's wire format: values → envelopes for the scoring decoder.

:class:`RegistryFormat` is what :class:`streamapp.scoring.decode.Decoder` calls
before its JSON envelope path when the events topic's format is ``avro``,
``protobuf`` or ``json_schema``: it decodes the batch's values (one reader per
format, schemas cached by id), maps each record's fields to the envelope and the
model's features (:class:`~.fields.FieldMap`), and hands back, per record, either
``(event_id, event_time, features)`` or ``(reason, detail)`` for the dead-letter topic
(:meth:`RegistryFormat.envelopes`), or the whole batch as columns where the reader
vouches for its rows, the others record by record (:meth:`RegistryFormat.columns`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient

from streamapp.formats.mapping.fields import EventColumns, FieldMap
from streamapp.formats.readers import AvroReader, JsonSchemaReader, ProtobufReader, RecordReader
from streamapp.formats.resolver import SchemaResolver
from streamapp.metrics.formats import FormatMetrics
from streamapp.schemas import DeadLetterReason
from streamapp.settings.formats import FormatSettings, SchemaRegistrySettings

Envelope = tuple[str, datetime, dict[str, Any]] | tuple[DeadLetterReason, str]
R = DeadLetterReason


class RegistryFormat:
    """A topic in the Confluent wire format; never raises for bad input (an outage waits)."""

    def __init__(self, reader: RecordReader, settings: FormatSettings,
                 metrics: FormatMetrics, resolver: SchemaResolver) -> None:
        self.reader = reader
        self.name = reader.name
        self.settings = settings
        self.metrics = metrics
        self.resolver = resolver
        self._maps: dict[tuple[str, ...], FieldMap] = {}
        self._ok = metrics.decoded.labels(format=self.name, result="ok")

    def ready_reason(self) -> str | None:
        """None unless the Schema Registry is unreachable right now."""
        return self.resolver.ready_reason()

    def _fields(self, features: Sequence[str]) -> FieldMap:
        fields = self._maps.get(tuple(features))
        if fields is None:
            s = self.settings
            fields = self._maps[tuple(features)] = FieldMap(
                features, s.features, s.event_id_field, s.event_time_field
            )
        return fields

    def envelopes(
        self, records: Sequence[Any], values: Sequence[bytes | None], model: str,
        features: Sequence[str],
    ) -> list[Envelope]:
        """Per record: ``(event_id, event_time, features)`` or ``(reason, detail)``."""
        fields = self._fields(features)
        out: list[Envelope] = []
        for rec, decoded in zip(records, self.reader.read(values), strict=True):
            if type(decoded) is tuple:
                out.append(decoded)
                continue
            stamp = rec.timestamp()[1] if hasattr(rec, "timestamp") else None
            out.append(fields.envelope(decoded, rec.key(), stamp, model))
        self.count(out)
        return out

    def count_ok(self, n: int) -> None:
        """Count ``n`` records decoded by the batch path as ok."""
        self._ok.inc(n)

    def count(self, results: Sequence[tuple[Any, ...]]) -> None:
        """Count record-by-record results in ``streamapp_format_records_total``: a
        ``(reason, detail)`` reject under its reason, anything else as ok."""
        ok = 0
        for item in results:
            if isinstance(item[0], DeadLetterReason):
                self.metrics.decoded.labels(format=self.name, result=item[0].value).inc()
            else:
                ok += 1
        self._ok.inc(ok)

    def columns(
        self, records: Sequence[Any], values: Sequence[bytes | None], model: str,
        features: Sequence[str], max_bytes: int,
    ) -> EventColumns:
        """The batch as columns where the reader vouches for its rows (schema resolution
        and evolution as :meth:`envelopes`); every other row through :meth:`envelopes`,
        which names its reason. A value over ``max_bytes`` is ``too_large``."""
        fields = self._fields(features)
        big: list[int] = []
        if None in values or max(map(len, values), default=0) > max_bytes:  # type: ignore[arg-type]
            big = [i for i, v in enumerate(values) if v is not None and len(v) > max_bytes]
        index = sorted(set(range(len(values))).difference(big)) if big else None
        batch = values if index is None else [values[i] for i in index]
        paths = fields.paths()
        if len(batch) >= self.reader.batch_from:
            rows, columns, rest = self.reader.columns(batch, paths, fields.event_time)
        else:
            rows, columns, rest = [], [None] * len(paths), list(range(len(batch)))
        if index is not None:
            rows, rest = [index[i] for i in rows], [index[i] for i in rest]
        found, more = fields.columns(rows, columns, records, model)
        rest = sorted(rest + more)
        self.count_ok(len(found.rows))
        if rest:
            found.others = list(zip(rest, self.envelopes(
                [records[i] for i in rest], [values[i] for i in rest], model, features),
                strict=True))
        for i in big:
            detail = f"{len(values[i] or b'')} bytes > scoring.max_event_bytes={max_bytes}"
            found.others.append((i, (R.TOO_LARGE, detail)))
            self.metrics.decoded.labels(format=self.name, result=R.TOO_LARGE.value).inc()
        return found


def input_format(
    fmt: str,
    topic: str,
    formats: FormatSettings,
    registry: SchemaRegistrySettings,
    metrics: FormatMetrics,
    repeat_interval_s: float = 60.0,
    stop: threading.Event | None = None,
) -> RegistryFormat | None:
    """The format of ``topic`` (None for streamapp's JSON envelope)."""
    if fmt == "json":
        return None
    client = SchemaRegistryClient(registry.client_conf())
    resolver = SchemaResolver(client, metrics, registry.retry_max_s, repeat_interval_s, stop)
    reader: RecordReader
    if fmt == "avro":
        reader = AvroReader(resolver, f"{topic}-value")
    elif fmt == "protobuf":
        reader = ProtobufReader(resolver)
    elif fmt == "json_schema":
        reader = JsonSchemaReader(resolver)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return RegistryFormat(reader, formats, metrics, resolver)
