"""Output topics in Avro through the Schema Registry: registered at start, encoded per batch.

:class:`OutputRegistry` puts a wire model's generated schema (:mod:`.avro_schemas`) under
the topic's TopicNameStrategy subject ``<topic>-value`` once, at start: a subject whose
compatibility is unset or ``NONE`` is set to ``BACKWARD`` (any other level is kept), the
schema is tested against the subject's latest version, then registered. A schema the
subject refuses is :class:`IncompatibleSchema` (the worker refuses to start: exit 2, one
line naming the subject); an unreachable registry is an outage, retried with the
resolver's backoff while readiness names it. :class:`AvroPredictions` then encodes whole
batches of predictions with the id it got, :class:`~.avro_records.AvroRecords` the joined
outcomes record by record: no registry round trip per record.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from pydantic import BaseModel

import streamapp.formats.writers.avro_columns as col
from streamapp.formats.resolver import SchemaResolver, UnknownSchema
from streamapp.formats.writers.avro_records import AvroRecords
from streamapp.formats.writers.avro_schemas import avro_schema
from streamapp.metrics.formats import FormatMetrics
from streamapp.schemas import JoinedOutcome, Prediction
from streamapp.settings.formats import SchemaRegistrySettings

KEPT_LEVELS = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
               "FULL_TRANSITIVE")
"""Subject compatibility levels left as they are; unset or ``NONE`` becomes ``BACKWARD``."""


class IncompatibleSchema(RuntimeError):
    """The subject refuses streamapp's schema; the message is the one line to print."""


class OutputRegistry(SchemaResolver):
    """The resolver's cache, backoff and outage reporting, plus what a writer asks at start."""

    def register_output(self, subject: str, schema: dict[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (BACKWARD unless set); its schema id.

        Raises :class:`IncompatibleSchema` when the subject's latest version forbids it;
        waits through an outage (:class:`~.resolver.RegistryStopped` if stopped meanwhile).
        """
        candidate = Schema(orjson.dumps(schema).decode(), "AVRO")
        level = self._level(subject)
        latest = self.latest(subject)
        what = f"streamapp's {schema['name']} schema"
        fix = (f"register a compatible version, change the subject's compatibility "
               f"(PUT /config/{subject}), or write to a new topic")
        if latest is not None and not self._call(
                lambda: self.client.test_compatibility(subject, candidate)):
            raise IncompatibleSchema(
                f"schema registry subject {subject} refuses {what}: incompatible with its "
                f"latest version {latest.version} under {level} compatibility; {fix}")
        try:
            return int(self._call(lambda: self.client.register_schema(subject, candidate)))
        except UnknownSchema as exc:  # 409 and other refusals: e.g. a version registered since
            raise IncompatibleSchema(
                f"schema registry subject {subject} refuses {what} ({exc}); {fix}") from None

    def _level(self, subject: str) -> str:
        """The subject's compatibility level, set to BACKWARD first when unset or NONE."""
        try:
            level = str(self._call(lambda: self.client.get_compatibility(subject))).upper()
        except UnknownSchema:  # no subject-level setting
            level = "NONE"
        if level not in KEPT_LEVELS:
            self._call(lambda: self.client.set_compatibility(subject, "BACKWARD"))
            level = "BACKWARD"
        return level


class AvroPredictions:
    """Prediction records (:class:`~streamapp.schemas.Prediction`) in Avro, a batch at a time.

    The bytes are those of fastavro's writer for :func:`prediction_schema`, with the
    Confluent header of the registered id; :meth:`encode` never calls the registry.
    """

    FIELDS = ("event_id", "model_name", "model_version", "variant", "scores",
              "predicted_label", "predicted_value", "holdout", "event_time", "scored_time")
    """The field order the template below encodes (checked against the generated schema)."""

    def __init__(self, schema_id: int, metrics: FormatMetrics) -> None:
        names = tuple(f["name"] for f in prediction_schema()["fields"])
        if names != self.FIELDS:
            raise AssertionError(f"Prediction fields changed to {names}: update AvroPredictions")
        self.schema_id = schema_id
        self._header = col.escape(col.header(schema_id))
        self._count = metrics.encoded.labels(format="avro", record="prediction")

    def encode(
        self, name: str, version: str, variant: str, scored_time: datetime,
        keys: Sequence[bytes], event_times: Sequence[datetime],
        outputs: np.ndarray[Any, Any], classes: Sequence[int | str] | None,
        holdout: np.ndarray[Any, np.dtype[np.bool_]],
    ) -> list[bytes]:
        """One wire-format value per row: ``keys`` (UTF-8 event ids), ``event_times`` and
        ``holdout`` aligned with the model's ``outputs``; argmax picks the class."""
        consts = b"".join(col.escape(col.string_bytes(v)) for v in (name, version, variant))
        tail = col.escape(col.long_bytes(int(col.micros([scored_time])[0])))
        ids = [col.lengths(keys), keys]
        flags, times = col.booleans(holdout), col.longs(col.micros(event_times))
        if classes:
            labels = np.array([_label(c) for c in classes], dtype=object)
            count = col.escape(col.long_bytes(len(classes)))
            tmpl = (self._header + b"%s%s" + consts + b"\x02" + count + b"%s\x00%s\x00%s%s"
                    + tail)
            rows = zip(*ids, col.doubles(outputs), labels[outputs.argmax(axis=1)].tolist(),
                       flags, times, strict=True)
        else:
            tmpl = self._header + b"%s%s" + consts + b"\x00\x00\x02%s%s%s" + tail
            rows = zip(*ids, col.doubles(outputs[:, :1]), flags, times, strict=True)
        values = [tmpl % row for row in rows]
        self._count.inc(len(values))
        return values


def prediction_schema() -> dict[str, Any]:
    """The Avro schema of the predictions topic (generated from the wire model)."""
    return avro_schema(Prediction)


def _label(value: int | str) -> bytes:
    """A class as the ``predicted_label`` union: branch 1 (long) or 2 (string).

    >>> _label(1), _label("yes")
    (b'\\x02\\x02', b'\\x04\\x06yes')
    """
    if isinstance(value, str):
        return b"\x04" + col.string_bytes(value)
    return b"\x02" + col.long_bytes(int(value))


def output_registry(
    registry: SchemaRegistrySettings, metrics: FormatMetrics, repeat_interval_s: float = 60.0,
    stop: threading.Event | None = None,
) -> OutputRegistry:
    """The registry client of the output topics (no request yet; raises on a bad config)."""
    client = SchemaRegistryClient(registry.client_conf())
    return OutputRegistry(client, metrics, registry.retry_max_s, repeat_interval_s, stop)


def register_topic(outputs: OutputRegistry, output: str, topic: str, model: type[BaseModel]
                   ) -> int:
    """Register ``model``'s schema under ``<topic>-value``: its id. ``output`` names the
    settings (``formats.<output>``, ``topics.<output>``) that a refusal's line ends with:
    :class:`IncompatibleSchema`; an outage is waited out (:meth:`OutputRegistry.register_output`).
    """
    try:
        return outputs.register_output(f"{topic}-value", avro_schema(model))
    except IncompatibleSchema as exc:
        raise IncompatibleSchema(
            f"{exc} (formats.{output} = avro, topics.{output} = {topic})") from None


def register_predictions(outputs: OutputRegistry, topic: str, metrics: FormatMetrics
                         ) -> AvroPredictions:
    """Register the predictions schema under ``<topic>-value`` and bind the encoder to its id
    (:func:`register_topic`: may raise :class:`IncompatibleSchema`)."""
    return AvroPredictions(register_topic(outputs, "predictions", topic, Prediction), metrics)


def register_outcomes(outputs: OutputRegistry, topic: str, metrics: FormatMetrics
                      ) -> AvroRecords:
    """Register the joined outcomes' schema under ``<topic>-value`` and bind a record writer to
    its id (:func:`register_topic`: may raise :class:`IncompatibleSchema`)."""
    sid = register_topic(outputs, "joined_outcomes", topic, JoinedOutcome)
    return AvroRecords(JoinedOutcome, sid, metrics, "joined_outcome")
