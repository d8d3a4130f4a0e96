"""The demo's records in a registry format (``streamapp demo --format avro``).

Events and labels are written as Avro in the Confluent wire format by the encoder of
``streamapp produce --format`` (:func:`~streamapp.formats.writers.serialize.value_encoder`),
under schemas the demo registers as the latest version of ``<topic>-value``
(TopicNameStrategy): the event record holds ``event_id``, ``event_time`` and one field
per feature of the serving model (:func:`event_schema`), the label record ``event_id``,
``label`` and ``label_time``. Values read back (predictions) are told apart by their first
byte (:class:`ValueReader`): the magic byte 0 through the Schema Registry, anything else as
JSON. Prediction-log, dead-letter and control topics stay JSON in either format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka.schema_registry import SchemaRegistryClient

from streamapp.demo.traffic import PlannedEvent
from streamapp.formats.peek import Peek
from streamapp.formats.writers.serialize import ValueEncoder, value_encoder
from streamapp.registry.manifest import FeatureSpec
from streamapp.settings.formats import SchemaRegistrySettings
from streamapp.settings.topics import TopicSettings

FORMATS = ("json", "avro")
"""``--format`` choices: streamapp's JSON envelope, or Avro through a Schema Registry."""
NAMESPACE = "streamapp.demo"
LABEL_SCHEMA: dict[str, Any] = {
    "type": "record", "name": "Label", "namespace": NAMESPACE, "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "label", "type": "long"},
        {"name": "label_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}  # fmt: skip


def wire_format(value: bytes | None) -> str:
    """``wire`` for a value in the Confluent wire format (magic byte 0), else ``json``.

    >>> wire_format(b"\\x00\\x00\\x00\\x00\\x07\\x02"), wire_format(b'{"a": 1}'), wire_format(None)
    ('wire', 'json', 'json')
    """
    return "wire" if value and value[0] == 0 else "json"


def _feature_type(spec: FeatureSpec) -> str:
    """The Avro type of one feature: double, long, boolean or string."""
    if spec.type == "numeric":
        return "double"
    if spec.type == "categorical" and spec.categories:
        kinds = {type(c) for c in spec.categories}
        if kinds == {bool}:
            return "boolean"
        if kinds == {int}:
            return "long"
    if spec.type in ("categorical", "text"):
        return "string"
    raise ValueError(f"feature {spec.name!r}: a {spec.type} feature has no Avro field here")


def event_schema(features: Sequence[FeatureSpec]) -> dict[str, Any]:
    """The events' Avro record: ``event_id``, ``event_time`` (``timestamp-millis``) and one
    nullable field per feature (a null is a ``missing_feature`` dead letter, as a key left
    out of the JSON envelope); raises ValueError for a feature with no scalar type.

    >>> spec = [FeatureSpec(name="age", type="numeric"),
    ...         FeatureSpec(name="car", type="categorical", categories=[1, 2])]
    >>> [(f["name"], f["type"]) for f in event_schema(spec)["fields"]][2:]
    [('age', ['null', 'double']), ('car', ['null', 'long'])]
    """
    fields: list[dict[str, Any]] = [
        {"name": "event_id", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ]
    fields += [
        {"name": f.name, "type": ["null", _feature_type(f)], "default": None} for f in features
    ]
    return {"type": "record", "name": "Event", "namespace": NAMESPACE, "fields": fields}


def worker_formats(fmt: str, registry_url: str | None) -> dict[str, str]:
    """The ``STREAMAPP_*`` settings of the topic formats every demo worker gets: the demo
    owns them (its own records decide them); raises ValueError for an unknown format.

    >>> worker_formats("json", None)["STREAMAPP_FORMATS__EVENTS"]
    'json'
    >>> env = worker_formats("avro", "http://127.0.0.1:1/apis/ccompat/v7")
    >>> env["STREAMAPP_FORMATS__PREDICTIONS"], env["STREAMAPP_FORMATS__FEATURES"]
    ('avro', '{}')
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    env = {f"STREAMAPP_FORMATS__{topic}": fmt for topic in ("EVENTS", "LABELS", "PREDICTIONS",
                                                                  "JOINED_OUTCOMES")}
    if fmt == "json":
        return env
    if not registry_url:
        raise ValueError(f"--format {fmt} needs a schema registry URL")
    # the demo's records name these fields: a user's mapping would not find them
    return env | {
        "STREAMAPP_SCHEMA_REGISTRY__URL": registry_url,
        "STREAMAPP_FORMATS__FEATURES": "{}",
        "STREAMAPP_FORMATS__EVENT_ID_FIELD": "event_id",
        "STREAMAPP_FORMATS__EVENT_TIME_FIELD": "event_time",
        "STREAMAPP_FORMATS__LABEL_ID_FIELD": "event_id",
        "STREAMAPP_FORMATS__LABEL_FIELD": "label",
        "STREAMAPP_FORMATS__LABEL_TIME_FIELD": "label_time",
    }


class WireEncoders:
    """Avro values of the demo's events and labels, one registered schema each."""

    def __init__(self, events: ValueEncoder, labels: ValueEncoder) -> None:
        self.events = events
        self.labels = labels

    @classmethod
    def register(
        cls,
        topics: TopicSettings,
        registry: SchemaRegistrySettings,
        features: Sequence[FeatureSpec],
        folder: Path,
    ) -> WireEncoders:
        """Write ``event.avsc`` and ``label.avsc`` into ``folder`` and register them under
        ``<events>-value`` and ``<labels>-value``; raises ``SchemaUnavailable`` (a subject
        that refuses them, a registry that does not answer) before anything is sent."""
        folder.mkdir(parents=True, exist_ok=True)
        files = {"event": folder / "event.avsc", "label": folder / "label.avsc"}
        files["event"].write_bytes(orjson.dumps(event_schema(features), option=orjson.OPT_INDENT_2))
        files["label"].write_bytes(orjson.dumps(LABEL_SCHEMA, option=orjson.OPT_INDENT_2))
        return cls(
            value_encoder("avro", topics.events, registry, files["event"]),
            value_encoder("avro", topics.labels, registry, files["label"]),
        )

    def event(self, event: PlannedEvent, event_time: datetime) -> bytes:
        """The wire-format value of ``event``; its ``invalid_json`` kind stays the broken JSON
        text (a ``not_wire_format`` dead letter). Raises ``RecordMismatch`` for features the
        schema cannot hold."""
        if event.malformed == "invalid_json":
            return event.payload(event_time)
        return self.events.encode(
            {"event_id": event.event_id, "event_time": event_time, **event.features}
        )

    def label(self, event_id: str, label: int, label_time: datetime) -> bytes:
        """The wire-format value of one label record."""
        return self.labels.encode({"event_id": event_id, "label": label, "label_time": label_time})


class ValueReader:
    """Values of a topic written as JSON or in the wire format → records, counted by format.

    ``counts`` holds ``json``, ``wire`` and ``undecodable`` (a wire-format value the
    registry could not resolve, or any value that is not a JSON object): such a value
    reads as None, never an exception.
    """

    def __init__(self, client: SchemaRegistryClient | None) -> None:
        self.peek = Peek(client)
        self.counts: Counter[str] = Counter()

    @classmethod
    def of(cls, registry: SchemaRegistrySettings | None) -> ValueReader:
        """A reader asking the registry of ``registry`` (None: wire-format values are
        undecodable)."""
        return cls(SchemaRegistryClient(registry.client_conf()) if registry else None)

    def read(self, value: bytes) -> dict[str, Any] | None:
        """The record ``value`` holds (times as RFC 3339 text), or None."""
        kind = wire_format(value)
        text: bytes | str = value
        if kind == "wire":
            peeked = self.peek.decode(value)
            if peeked is None or peeked.record is None:
                self.counts["undecodable"] += 1
                return None
            text = peeked.record
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            self.counts["undecodable"] += 1
            return None
        self.counts[kind] += 1
        return record
