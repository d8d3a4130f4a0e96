"""One input topic's wire format: values → envelopes for the scoring decoder.

:class:`RegistryFormat` is what :class:`streamapp.scoring.decode.Decoder` calls
before its JSON envelope path when the events topic's format is ``avro``,
``protobuf`` or ``json_schema``: it decodes the batch's values (one reader per
format, schemas cached by id), maps each record's fields to the envelope and the
model's features (:class:`~.fields.FieldMap`), and hands back, per record, either
``(event_id, event_time, features)`` or ``(reason, detail)`` for the dead-letter topic.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient

from streamapp.formats.fields import FieldMap
from streamapp.formats.records import AvroReader, JsonSchemaReader, ProtobufReader, RecordReader
from streamapp.formats.resolver import SchemaResolver
from streamapp.metrics.formats import FormatMetrics
from streamapp.schemas import DeadLetterReason
from streamapp.settings.formats import FormatSettings, SchemaRegistrySettings

Envelope = tuple[str, datetime, dict[str, Any]] | tuple[DeadLetterReason, str]


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

    def envelopes(
        self, records: Sequence[Any], values: Sequence[bytes | None], model: str,
        features: Sequence[str],
    ) -> list[Envelope]:
        """Per record: ``(event_id, event_time, features)`` or ``(reason, detail)``."""
        fields = self._maps.get(tuple(features))
        if fields is None:
            s = self.settings
            fields = self._maps[tuple(features)] = FieldMap(
                features, s.features, s.event_id_field, s.event_time_field
            )
        out: list[Envelope] = []
        ok = 0
        for rec, decoded in zip(records, self.reader.read(values), strict=True):
            if type(decoded) is tuple:
                out.append(decoded)
                self.metrics.decoded.labels(format=self.name, result=decoded[0].value).inc()
                continue
            stamp = rec.timestamp()[1] if hasattr(rec, "timestamp") else None
            envelope = fields.envelope(decoded, rec.key(), stamp, model)
            if len(envelope) == 2:
                self.metrics.decoded.labels(format=self.name, result=envelope[0].value).inc()
            else:
                ok += 1
            out.append(envelope)
        self._ok.inc(ok)
        return out


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
