"""Batch decoding of the monitor's inputs: logged predictions and labels (msgspec, typed).

msgspec validates against the same contract as :mod:`streamapp.schemas`
(``LoggedPrediction``, ``Label``: unknown fields rejected, timezone-aware
times, event id 1-256 characters) at a fraction of pydantic's per-record cost.
Errors are data: :func:`decode_batch` never raises for bad input, it returns
each rejected record with a :class:`~streamapp.schemas.DeadLetterReason`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar

import msgspec

from streamapp.schemas import DeadLetterReason

AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
FeatureValue = float | int | str | bool | None


class LoggedRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """A logged prediction (wire contract: :class:`streamapp.schemas.LoggedPrediction`).

    ``gc=False``: records hold no reference cycles, and not tracking millions
    of them keeps the cyclic garbage collector off the hot path.
    """

    event_id: EventId
    model_name: str
    model_version: str
    event_time: AwareTime
    scored_time: AwareTime
    features: dict[str, FeatureValue]
    variant: Literal["primary", "canary", "shadow"] = "primary"
    scores: list[float] | None = None
    predicted_label: int | str | None = None
    predicted_value: float | None = None
    holdout: bool = False
    inputs: msgspec.Raw | None = None
    """A tensor model's raw features with ``sampling.log_inputs`` (not joined, not kept)."""


class StoredRecord(msgspec.Struct, frozen=True, gc=False):
    """A logged prediction read back from the join store (validated when it arrived).

    The features stay raw JSON (``msgspec.Raw``): a joined outcome copies them
    verbatim and the summaries of joined outcomes do not need them, so no
    per-feature objects are built.
    """

    event_id: str
    model_name: str
    model_version: str
    event_time: datetime
    scored_time: datetime
    features: msgspec.Raw
    variant: str = "primary"
    scores: list[float] | None = None
    predicted_label: int | str | None = None
    predicted_value: float | None = None
    holdout: bool = False


Logged = LoggedRecord | StoredRecord
"""A logged prediction as decoded on arrival or read back from the store."""


class LabelRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    """A label (wire contract: :class:`streamapp.schemas.Label`)."""

    event_id: EventId
    label: bool | int | float | str
    label_time: AwareTime
    model_name: str | None = None


class OutcomeRecord(msgspec.Struct, frozen=True, gc=False):
    """A joined outcome (wire contract: :class:`streamapp.schemas.JoinedOutcome`)."""

    event_id: str
    model_name: str
    model_version: str
    variant: str
    holdout: bool
    features: dict[str, FeatureValue] | msgspec.Raw
    scores: list[float] | None
    predicted_label: int | str | None
    predicted_value: float | None
    label: bool | int | float | str
    event_time: datetime
    scored_time: datetime
    label_time: datetime
    label_lag_s: float
    joined_at: datetime


def outcome(pred: Logged, label: LabelRecord, joined_at: datetime) -> OutcomeRecord:
    """The joined-outcome record of a prediction and its label."""
    return OutcomeRecord(
        event_id=pred.event_id,
        model_name=pred.model_name,
        model_version=pred.model_version,
        variant=pred.variant,
        holdout=pred.holdout,
        features=pred.features,
        scores=pred.scores,
        predicted_label=pred.predicted_label,
        predicted_value=pred.predicted_value,
        label=label.label,
        event_time=pred.event_time,
        scored_time=pred.scored_time,
        label_time=label.label_time,
        label_lag_s=(label.label_time - pred.event_time).total_seconds(),
        joined_at=joined_at,
    )


def outcome_fields(rec: OutcomeRecord) -> dict[str, Any]:
    """The fields of a joined outcome as plain values (features decoded when kept as raw
    JSON): what an Avro writer takes.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> rec = OutcomeRecord("e", "m", "1", "primary", False, msgspec.Raw(b'{"x":1.5}'),
    ...                     None, 1, None, 1, t, t, t, 0.0, t)
    >>> outcome_fields(rec)["features"]
    {'x': 1.5}
    """
    fields = msgspec.structs.asdict(rec)
    features = fields["features"]
    if isinstance(features, msgspec.Raw):
        fields["features"] = _decode_json(features)
    return fields


T = TypeVar("T")


@dataclass
class Rejected:
    """One input record for the dead-letter topic."""

    offset: int
    reason: DeadLetterReason
    detail: str
    value: bytes
    key: bytes | None


@dataclass
class Decoded(Generic[T]):
    """Valid records with their raw bytes (in input order), plus rejects."""

    items: list[T] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class Record(Protocol):
    """What the decoder needs of a consumed message (confluent-kafka's Message fits)."""

    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def offset(self) -> int | None: ...


class RawRecord:
    """An in-memory :class:`Record` (tests, benchmarks)."""

    __slots__ = ("_key", "_offset", "_value")

    def __init__(self, offset: int, key: bytes | None, value: bytes | None) -> None:
        self._offset, self._key, self._value = offset, key, value

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def offset(self) -> int:
        return self._offset


decode_prediction: Callable[[bytes], LoggedRecord] = msgspec.json.Decoder(LoggedRecord).decode
decode_label: Callable[[bytes], LabelRecord] = msgspec.json.Decoder(LabelRecord).decode
decode_stored: Callable[[bytes], StoredRecord] = msgspec.json.Decoder(StoredRecord).decode
encode = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode


def decode_batch(
    records: Sequence[Record], decode: Callable[[bytes], T], max_bytes: int
) -> Decoded[T]:
    """Decode every record; invalid ones become :class:`Rejected` with a reason code.

    >>> out = decode_batch([RawRecord(7, None, b"{")], decode_label, 1024)
    >>> out.items, out.rejected[0].reason.value
    ([], 'invalid_json')
    """
    out: Decoded[T] = Decoded()
    items, raw = out.items, out.raw
    for rec in records:
        value = rec.value() or b""
        try:
            if len(value) > max_bytes:
                raise _TooLarge(f"{len(value)} bytes")
            items.append(decode(value))
            raw.append(value)
        except (msgspec.ValidationError, msgspec.DecodeError, _TooLarge) as exc:
            out.rejected.append(
                Rejected(int(rec.offset() or 0), _reason(exc), str(exc), value, rec.key())
            )
    return out


class _TooLarge(ValueError):
    pass


def _reason(exc: Exception) -> DeadLetterReason:
    if isinstance(exc, _TooLarge):
        return DeadLetterReason.TOO_LARGE
    if isinstance(exc, msgspec.ValidationError):
        return DeadLetterReason.SCHEMA_VIOLATION
    if "utf-8" in str(exc).lower():
        return DeadLetterReason.INVALID_UTF8
    return DeadLetterReason.INVALID_JSON
