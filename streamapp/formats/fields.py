"""A decoded record → the model's envelope: event id, event time, feature values.

Features are read by name from the record's top-level fields unless
``formats.features`` maps a feature to a dotted path (``customer.address.zip``);
paths walk dicts (Avro, JSON Schema) and Protobuf messages alike. A feature
missing from the record is left out, so the feature encoder names it
(``missing_feature``), exactly as for the JSON envelope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from streamapp.schemas import DeadLetterReason

R = DeadLetterReason
_MISSING = object()


def lookup(record: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` in ``record``, or the sentinel :data:`_MISSING`.

    >>> lookup({"a": {"b": 2}}, ["a", "b"]), lookup({"a": 1}, ["b"]) is _MISSING
    (2, True)
    """
    node = record
    for part in path:
        if isinstance(node, Mapping):
            node = node.get(part, _MISSING)
        elif isinstance(node, Message):
            field = node.DESCRIPTOR.fields_by_name.get(part)
            if field is None or (field.has_presence and not node.HasField(part)):
                return _MISSING
            node = getattr(node, part)
            if field.label == field.LABEL_REPEATED:
                node = list(node)
        else:
            return _MISSING
        if node is _MISSING or node is None:
            return _MISSING
    return node


def event_time(value: Any) -> datetime | None:
    """A record's event time: an aware datetime, RFC 3339 text, or epoch milliseconds.

    >>> event_time(1_700_000_000_000).isoformat(), event_time("2026-01-02T03:04:05Z").year
    ('2023-11-14T22:13:20+00:00', 2026)
    """
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if isinstance(value, str):
        when = datetime.fromisoformat(value)
        return when if when.tzinfo is not None else None
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


class FieldMap:
    """Where a model's envelope and features are read from in a decoded record."""

    def __init__(
        self,
        features: Sequence[str],
        paths: Mapping[str, str],
        event_id_field: str = "event_id",
        event_time_field: str = "event_time",
    ) -> None:
        self.features = [(name, paths.get(name, name).split(".")) for name in features]
        self.event_id = event_id_field.split(".")
        self.event_time = event_time_field.split(".")

    def envelope(
        self, record: Any, key: bytes | None, timestamp_ms: int | None, model: str
    ) -> tuple[str, datetime, dict[str, Any]] | tuple[DeadLetterReason, str]:
        """(event id, event time, features) of one record, or (reason, detail)."""
        event_id = lookup(record, self.event_id)
        if event_id is _MISSING:
            try:
                event_id = key.decode("utf-8") if key else _MISSING
            except UnicodeDecodeError:
                event_id = _MISSING
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 256:
            return R.SCHEMA_VIOLATION, "no event id: neither the record field nor the Kafka key"
        raw = lookup(record, self.event_time)
        try:
            when = (event_time(raw) if raw is not _MISSING else
                    datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms else None)
        except (ValueError, OverflowError, OSError):
            when = None
        if when is None:
            return R.SCHEMA_VIOLATION, f"event time {str(raw)[:64]!r} is not an aware timestamp"
        served = lookup(record, ["model"])
        if served is not _MISSING and served != model:
            return R.UNKNOWN_MODEL, f"model {str(served)[:64]!r} is not served here ({model})"
        features: dict[str, Any] = {}
        for name, path in self.features:
            value = lookup(record, path)
            if value is not _MISSING:
                features[name] = value
        return event_id, when, features
