"""Decode stage: raw input records → a float32 feature matrix plus rejected records.

Errors are data: every record either lands in the batch or in ``errors`` with a
:class:`~streamapp.schemas.DeadLetterReason`; nothing here raises for bad input.
The envelope is checked by hand against :class:`~streamapp.schemas.Event`
(pydantic + per-row encoding cost ~6.8 µs per event, this path ~2.6 µs) and the
features go through :meth:`FeatureEncoder.encode_batch`, the training code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from streamapp.features import FeatureEncoder
from streamapp.registry.manifest import Manifest
from streamapp.runtime.base import FloatMatrix
from streamapp.schemas import DeadLetterReason

_ENVELOPE = frozenset({"event_id", "event_time", "key", "model", "features"})
R = DeadLetterReason


class Record(Protocol):
    """What the decoder needs from an input record (confluent-kafka's Message fits)."""

    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


@dataclass(frozen=True)
class Rejected:
    """A record routed to the dead-letter topic, with its reason code and detail."""

    record: Record
    reason: DeadLetterReason
    detail: str


@dataclass
class DecodedBatch:
    """Valid events as parallel columns (row i of ``matrix`` is event i) plus rejects."""

    matrix: FloatMatrix
    records: list[Record] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    event_times: list[str] = field(default_factory=list)
    """RFC 3339 event times (the producer's text when already canonical)."""
    event_dts: list[datetime] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Rejected] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.event_ids)


class Decoder:
    """Validates envelopes and encodes features for one served model's manifest."""

    def __init__(self, manifest: Manifest, max_event_bytes: int) -> None:
        self.model_name = manifest.name
        self.encoder = FeatureEncoder(manifest.features)
        self.max_event_bytes = max_event_bytes

    def decode(self, records: Sequence[Record]) -> DecodedBatch:
        """Split ``records`` into a scored-ready batch and rejects; never raises."""
        errors: list[Rejected] = []
        keep: list[Record] = []
        ids: list[str] = []
        times: list[datetime] = []
        texts: list[str] = []
        feats: list[dict[str, Any]] = []
        loads, fromiso = orjson.loads, datetime.fromisoformat
        limit, served = self.max_event_bytes, self.model_name
        for rec in records:
            # Fast path: a well-formed envelope passes these checks inline; anything
            # unusual is re-examined by _envelope, which names the reason.
            value = rec.value()
            try:
                if value is None or len(value) > limit:
                    raise ValueError
                obj = loads(value)
                event_id = obj["event_id"]
                raw_time = obj["event_time"]
                features = obj["features"]
                when = fromiso(raw_time)
                if (
                    type(event_id) is not str
                    or not 0 < len(event_id) <= 256
                    or type(features) is not dict
                    or when.tzinfo is None
                    or (len(obj) > 3
                    and not (obj.keys() <= _ENVELOPE and self._optional_ok(obj, served)))
                ):
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                problem = self._envelope(value)
                if len(problem) == 2:
                    errors.append(Rejected(rec, problem[0], problem[1]))
                    continue
                event_id, when, features = problem
                raw_time = when.isoformat()
            keep.append(rec)
            ids.append(event_id)
            times.append(when)
            texts.append(raw_time if _canonical(raw_time) else when.isoformat())
            feats.append(features)
        matrix, order, bad = self.encoder.encode_batch(feats)
        for i, exc in bad:
            errors.append(Rejected(keep[i], exc.reason, exc.detail))
        batch = DecodedBatch(matrix=matrix, errors=errors)
        batch.records = [keep[i] for i in order]
        batch.event_ids = [ids[i] for i in order]
        batch.event_times = [texts[i] for i in order]
        batch.event_dts = [times[i] for i in order]
        batch.features = [feats[i] for i in order]
        return batch

    @staticmethod
    def _optional_ok(obj: dict[str, Any], served: str) -> bool:
        key, model = obj.get("key"), obj.get("model")
        return (key is None or type(key) is str) and (model is None or model == served)

    def _envelope(
        self, value: bytes | None
    ) -> tuple[DeadLetterReason, str] | tuple[str, datetime, dict[str, Any]]:
        """The envelope's (event_id, event_time, features), or (reason, detail)."""
        if value is None:
            return R.SCHEMA_VIOLATION, "record has no value (tombstone)"
        if len(value) > self.max_event_bytes:
            limit = self.max_event_bytes
            return R.TOO_LARGE, f"{len(value)} bytes > scoring.max_event_bytes={limit}"
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                return R.INVALID_UTF8, "value is not valid UTF-8"
            return R.INVALID_JSON, f"invalid JSON: {exc}"
        if type(obj) is not dict:
            return R.SCHEMA_VIOLATION, f"event must be a JSON object, got {type(obj).__name__}"
        if not obj.keys() <= _ENVELOPE:
            return R.SCHEMA_VIOLATION, f"unknown envelope fields {sorted(obj.keys() - _ENVELOPE)}"
        event_id = obj.get("event_id")
        if type(event_id) is not str or not 0 < len(event_id) <= 256:
            return R.SCHEMA_VIOLATION, "event_id must be a string of 1..256 characters"
        raw_time = obj.get("event_time")
        if type(raw_time) is not str:
            return R.SCHEMA_VIOLATION, "event_time must be an RFC 3339 timestamp string"
        try:
            when = datetime.fromisoformat(raw_time)
        except ValueError:
            return R.SCHEMA_VIOLATION, f"event_time {raw_time[:64]!r} is not a timestamp"
        if when.tzinfo is None or when.utcoffset() is None:
            return R.SCHEMA_VIOLATION, "event_time has no timezone offset"
        key = obj.get("key")
        if key is not None and type(key) is not str:
            return R.SCHEMA_VIOLATION, "key must be a string or null"
        model = obj.get("model")
        if model is not None and model != self.model_name:
            served = self.model_name
            return R.UNKNOWN_MODEL, f"model {str(model)[:64]!r} is not served here ({served})"
        features = obj.get("features")
        if type(features) is not dict:
            return R.SCHEMA_VIOLATION, "features must be a JSON object"
        return event_id, when, features


def _canonical(text: str) -> bool:
    """RFC 3339 text every consumer parses: ``YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)``.

    >>> _canonical("2026-11-24T05:00:00Z"), _canonical("2026-11-24 05:00:00+0000")
    (True, False)
    """
    return (
        text[10:11] == "T"
        and text[4:5] == "-"
        and (text[-1:] == "Z" or (text[-6:-5] in ("+", "-") and text[-3:-2] == ":"))
    )
