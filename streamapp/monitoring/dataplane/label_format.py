"""Labels in a registry format (``formats.labels``: avro, protobuf, json_schema) → the
:class:`~.records.LabelRecord` the JSON path produces, so the join is unchanged.

:class:`RegistryLabels` decodes a batch through
:class:`streamapp.formats.mapping.labels.LabelFormat` and returns the same
:class:`~.records.Decoded` as :func:`~.records.decode_batch`: each label with its JSON
encoding as the raw bytes (what the join store holds and reads back with
``decode_label``), and each bad record as a :class:`~.records.Rejected` with its
reason and original bytes. A registry outage blocks the batch and retries; only a stop
during the outage raises :class:`LabelsStopped`. Nothing here loads the Kafka client until
a registry format is configured (the data plane's core does not import it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from streamapp.config import Settings
from streamapp.metrics.formats import FormatMetrics
from streamapp.monitoring.dataplane.records import (
    Decoded,
    LabelRecord,
    Record,
    Rejected,
    encode,
)
from streamapp.schemas import DeadLetterReason

if TYPE_CHECKING:
    from streamapp.formats.mapping.labels import LabelFormat


class LabelsStopped(RuntimeError):
    """The worker stopped while the Schema Registry was unreachable (the batch is undone)."""


def _timestamp_ms(rec: Record) -> int | None:
    """The Kafka record's timestamp in ms (None when the record has none)."""
    stamp = getattr(rec, "timestamp", None)
    if stamp is None:
        return None
    ms = int(stamp()[1])
    return ms if ms > 0 else None


class RegistryLabels:
    """Decodes label records of a registry format into :class:`~.records.LabelRecord` s."""

    def __init__(self, fmt: LabelFormat, max_bytes: int) -> None:
        from streamapp.formats.resolver import RegistryStopped

        self.format = fmt
        self.max_bytes = max_bytes
        self._stopped = RegistryStopped

    def ready_reason(self) -> str | None:
        """None unless the Schema Registry is unreachable right now (any thread)."""
        return self.format.ready_reason()

    def decode(self, records: Sequence[Record]) -> Decoded[LabelRecord]:
        """Labels and rejects of ``records``, in input order; never raises for bad input.

        Raises :class:`LabelsStopped` when the worker stops during a registry outage.
        """
        out: Decoded[LabelRecord] = Decoded()
        sized: list[Record] = []
        for rec in records:
            value = rec.value() or b""
            if len(value) > self.max_bytes:
                out.rejected.append(Rejected(int(rec.offset() or 0), DeadLetterReason.TOO_LARGE,
                                             f"{len(value)} bytes", value, rec.key()))
            else:
                sized.append(rec)
        if not sized:
            return out
        keys = [rec.key() for rec in sized]
        try:
            read = self.format.read([rec.value() for rec in sized], keys,
                                    [_timestamp_ms(rec) for rec in sized])
        except self._stopped as exc:
            raise LabelsStopped(str(exc)) from exc
        for rec, key, label in zip(sized, keys, read, strict=True):
            if len(label) == 2:
                reason, detail = label
                out.rejected.append(Rejected(int(rec.offset() or 0), reason, detail,
                                             rec.value() or b"", key))
                continue
            event_id, label_value, when = label
            item = LabelRecord(event_id=event_id, label=label_value, label_time=when)
            out.items.append(item)
            out.raw.append(encode(item))
        out.rejected.sort(key=lambda r: r.offset)
        return out


def registry_labels(
    settings: Settings, metrics: FormatMetrics, stop: threading.Event | None = None
) -> RegistryLabels | None:
    """The label decoder of ``formats.labels`` (None: the JSON label envelope, decoded by
    :func:`~.records.decode_batch`). Raises ``ConfigError`` without ``schema_registry.url``."""
    if settings.formats.labels == "json":
        return None
    from streamapp.formats.mapping.labels import label_format

    fmt = label_format(settings.formats, settings.topics.labels, settings.schema_registry,
                       metrics, settings.log.repeat_interval_s, stop)
    assert fmt is not None
    return RegistryLabels(fmt, settings.monitoring.max_label_bytes)
