"""Records → Confluent wire-format values for ``streamapp produce --format avro|…``.

Each record is written by the topic's :class:`~streamapp.formats.writers.serialize.ValueEncoder`.
One that does not fit the schema is not sent: it is counted in a
:class:`~streamapp.ingest.check.CheckReport` (reason ``schema_mismatch``, the first
record number and why), so the command reports it per reason as the pre-send check does,
and the rest of the file goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from streamapp.formats.writers.serialize import RecordMismatch, ValueEncoder
from streamapp.ingest.check import CheckReport
from streamapp.kafka.produce import KeyValue

REASON = "schema_mismatch"


def encoded(
    records: Iterable[tuple[bytes | None, Any]], encoder: ValueEncoder, report: CheckReport
) -> Iterator[KeyValue]:
    """``(key, wire-format value)`` per record that fits; misfits go to ``report`` (record
    numbers start at 1). ``SchemaUnavailable`` (the registry failed mid-file) propagates."""
    for number, (key, record) in enumerate(records, 1):
        report.checked += 1
        try:
            value = encoder.encode(record)
        except RecordMismatch as exc:
            report.reasons[REASON] += 1
            report.examples.setdefault(REASON, (number, str(exc)))
            continue
        yield key, value
