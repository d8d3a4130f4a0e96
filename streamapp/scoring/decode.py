"""Decode stage: raw input records → a float32 feature matrix plus rejected records.

Errors are data: every record either lands in the batch or in ``errors`` with a
:class:`~streamapp.schemas.DeadLetterReason`; nothing here raises for bad input.
The envelope is checked against :class:`~streamapp.schemas.Event` by one typed
``msgspec`` decode of the whole batch (newline-joined values), with a per-record
``orjson`` path for batches holding anything unusual, which names each reject's
reason. The envelope keeps each ``features`` object as raw JSON text:
:class:`~.columns.FeatureColumns` decodes the batch's objects straight into
the float32 matrix (no per-event dict), and the text is what prediction-log
records carry. The per-record path goes through
:meth:`FeatureEncoder.encode_batch`, the training code path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import msgspec
import numpy as np
import orjson

from streamapp.features import FeatureEncoder
from streamapp.inputs.tensors import TensorEncoded, TensorEncoder
from streamapp.registry.manifest import Manifest
from streamapp.runtime.base import ModelRows
from streamapp.schemas import DeadLetterReason
from streamapp.scoring.columns import Encoded, FeatureColumns, JsonText

if TYPE_CHECKING:  # the scoring core loads no Kafka client (streamapp.formats does)
    from streamapp.formats.mapping.fields import EventColumns

_ENVELOPE = frozenset({"event_id", "event_time", "key", "model", "features"})
R = DeadLetterReason


class PayloadFormat(Protocol):
    """A topic format other than the JSON envelope (:mod:`streamapp.formats`): the batch as
    :class:`~streamapp.formats.mapping.fields.EventColumns` (the rows it decoded as columns, every
    other row's envelope or ``(reason, detail)``); never raises for bad input."""

    def columns(
        self, records: Sequence[Any], values: Sequence[bytes | None], model: str,
        features: Sequence[str], max_bytes: int,
    ) -> EventColumns: ...


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
    """Valid events as parallel columns (row i of ``matrix`` is event i) plus rejects.

    ``matrix`` is the float32 feature matrix, or for a tensor model the
    :class:`~streamapp.inputs.FeatureBatch` of named columns.
    """

    matrix: ModelRows
    records: list[Record] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    event_times: list[str] = field(default_factory=list)
    """RFC 3339 event times (the producer's text when already canonical)."""
    event_dts: list[datetime] = field(default_factory=list)
    features: Sequence[JsonText] = field(default_factory=list)
    """The JSON text of each event's ``features`` object (as the producer wrote it; for a
    registry format rendered when read, see :class:`FeatureTexts`)."""
    errors: list[Rejected] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.event_ids)

    def feature_texts(self, rows: Sequence[int]) -> list[JsonText]:
        """The features JSON of the events at ``rows`` (the prediction log's sample)."""
        feats = self.features
        if isinstance(feats, FeatureTexts):
            return feats.take(rows)
        return [feats[i] for i in rows]


class FeatureTexts(Sequence[JsonText]):
    """The features JSON of a registry-format batch, rendered only for the rows read.

    A wire-format event carries no JSON text of its features; the prediction log needs it
    for its sample only (``sampling.log_rate``), so :meth:`take` renders just those rows
    (the vouched ones by one batch call). Row ``i`` is input row ``order[i]``: a vouched
    row of ``columns`` below ``len(columns.rows)``, else ``rest[order[i] - len(columns.rows)]``.
    """

    def __init__(self, columns: EventColumns, rest: list[JsonText],
                 order: Sequence[int] | None = None) -> None:
        self.columns = columns
        self.rest = rest
        self.order = order
        self._vouched = len(columns.rows)

    def __len__(self) -> int:
        return self._vouched + len(self.rest) if self.order is None else len(self.order)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return self.take(range(len(self))[i])
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.take([i % len(self)])[0]

    def __iter__(self) -> Any:
        return iter(self.take(range(len(self))))

    def reordered(self, order: Sequence[int]) -> FeatureTexts:
        """These texts with row ``i`` being this batch's row ``order[i]``."""
        own = self.order
        return FeatureTexts(self.columns, self.rest,
                            list(order) if own is None else [own[k] for k in order])

    def take(self, rows: Sequence[int]) -> list[JsonText]:
        """The texts of ``rows``, in their order."""
        inputs = rows if self.order is None else [self.order[r] for r in rows]
        n = self._vouched
        vouched = [k for k in inputs if k < n]
        if len(vouched) == len(inputs):
            return list(self.columns.texts(vouched))
        rendered = iter(self.columns.texts(vouched))
        rest = self.rest
        return [next(rendered) if k < n else rest[k - n] for k in inputs]


class _Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The :class:`~streamapp.schemas.Event` envelope as the typed batch decoder sees it.

    ``gc=False``: an envelope never holds a reference cycle, so the garbage
    collector need not track the 512 of them a batch allocates.
    """

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    event_time: str
    features: msgspec.Raw
    key: str | None = None
    model: str | None = None


_LINES = msgspec.json.Decoder(_Envelope)
_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)"
_CANONICAL_TIMES = re.compile(f"{_TIME}(?:\n{_TIME})*")
"""Newline-joined event times, every one canonical RFC 3339 with an offset."""
_ONE_TIME = re.compile(_TIME)
_LAYOUT_MIN_ROWS = 32
"""Below this many events the regex is cheaper than the numpy layout comparison."""
_COLUMNS = attrgetter("event_id", "event_time", "features", "model")
_Parsed = tuple[list[Rejected], list[Record], list[str], list[datetime], list[str]]


def _typed_batch(values: list[bytes | None], limit: int) -> list[_Envelope] | None:
    """Every value decoded as an envelope by one ``msgspec`` call, or None (use the slow path).

    Values are joined by newlines; a value holding a newline itself (legal JSON
    whitespace) would shift the framing, so the count of newlines must match.
    """
    try:
        joined = b"\n".join(values)  # type: ignore[arg-type]  # a None (tombstone) raises
    except TypeError:
        return None
    raw: list[bytes] = values  # type: ignore[assignment]  # no None (join succeeded)
    if max(map(len, raw)) > limit or joined.count(b"\n") != len(raw) - 1:
        return None
    try:
        envelopes = _LINES.decode_lines(joined)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return envelopes if len(envelopes) == len(raw) else None


class Decoder:
    """Validates envelopes and encodes features for one served model's manifest."""

    def __init__(
        self, manifest: Manifest, max_event_bytes: int, payload: PayloadFormat | None = None
    ) -> None:
        self.model_name = manifest.name
        self.payload = payload
        """The topic's wire format when not the JSON envelope (``formats.events``)."""
        self.feature_names = manifest.feature_names
        self.encoder = FeatureEncoder(manifest.scalar_features)
        self.columns: FeatureColumns | TensorEncoder
        if manifest.is_tensor_model:
            self.columns = TensorEncoder(manifest)
            self._encode_dicts: Any = self.columns.encode_dicts
        else:
            self.columns = FeatureColumns(self.encoder)
            self._encode_dicts = self.encoder.encode_batch
        self.max_event_bytes = max_event_bytes

    def decode(self, records: Sequence[Record]) -> DecodedBatch:
        """Split ``records`` into a scored-ready batch and rejects; never raises.

        Fast path: the batch's values joined by newlines and decoded by one typed
        ``msgspec`` call, the features by :class:`~.columns.FeatureColumns`; any
        record it cannot vouch for (a newline inside a value, a tombstone, an
        oversized or invalid envelope, features that are not an object) sends the
        whole batch to the per-record path, which names each reject's reason.
        """
        cls: Any = type(records[0]) if records else None
        values: list[bytes | None] = list(map(cls.value, records)) if records else []
        if self.payload is not None:
            return self._from_payload(records, values, self.payload)
        envelopes = _typed_batch(values, self.max_event_bytes) if values else None
        if envelopes is not None:
            fast = self._from_envelopes(records, envelopes)
            if fast is not None:
                return fast
        parsed, feats = self._per_record(records, values)
        texts: list[JsonText] = [orjson.dumps(f) for f in feats]
        return self._batch(*parsed, texts, self._encode_dicts(feats))

    def _from_envelopes(
        self, records: Sequence[Record], envelopes: list[_Envelope]
    ) -> DecodedBatch | None:
        """The batch whose envelopes all decoded; None if any needs the slow path.

        Event times are checked as canonical RFC 3339 with an offset by one regex
        over the joined column, then parsed with one ``map``; a batch with any
        other form takes the per-record path (which re-renders such times).
        """
        ids, texts, raws, models = zip(*map(_COLUMNS, envelopes), strict=True)
        if not _all_canonical(texts):
            return None
        if not set(models) <= {None, self.model_name}:
            return None
        try:
            times = list(map(datetime.fromisoformat, texts))
        except ValueError:  # e.g. day 31 of a 30-day month
            return None
        encoded = self.columns.encode(raws)
        if encoded is None:
            return None
        return self._batch([], list(records), list(ids), times, list(texts), list(raws), encoded)

    def _from_payload(
        self, records: Sequence[Record], values: list[bytes | None], payload: PayloadFormat
    ) -> DecodedBatch:
        """A wire-format batch: the rows the format decoded as columns straight into the
        matrix (numeric features), every other row through the per-record feature path."""
        found = payload.columns(records, values, self.model_name, self.feature_names,
                                self.max_event_bytes)
        errors: list[Rejected] = []
        keep: list[Record] = [records[i] for i in found.rows]
        ids, times, texts = found.event_ids, found.event_dts, found.event_times
        jsons: list[JsonText] = []  # the per-record rows' (the vouched ones: when read)
        feats: list[dict[str, Any]] = []
        for i, item in found.others:
            if len(item) == 2:
                errors.append(Rejected(records[i], item[0], item[1]))
                continue
            keep.append(records[i])
            ids.append(item[0])
            times.append(item[1])
            texts.append(item[1].isoformat())
            feats.append(item[2])
            jsons.append(orjson.dumps(item[2], default=str))
        n = len(found.rows)
        if isinstance(self.columns, FeatureColumns) and self.encoder.vector_types():
            matrix, bad = self.encoder.encode_values(found.matrix())
            rejected = set(bad)
            rest = [(j, found.row(j)) for j in bad] + list(enumerate(feats, n))
            encoded = self.encoder.finish(
                matrix, [j for j in range(n) if j not in rejected], rest)
        else:
            encoded = self._encode_dicts([found.row(j) for j in range(n)] + feats)
        return self._batch(errors, keep, ids, times, texts, FeatureTexts(found, jsons),
                           encoded)

    def _per_record(
        self, records: Sequence[Record], values: list[bytes | None]
    ) -> tuple[_Parsed, list[dict[str, Any]]]:
        """One ``orjson`` call per record; rejects carry their reason."""
        errors: list[Rejected] = []
        keep: list[Record] = []
        ids: list[str] = []
        times: list[datetime] = []
        texts: list[str] = []
        feats: list[dict[str, Any]] = []
        loads, fromiso = orjson.loads, datetime.fromisoformat
        limit, served = self.max_event_bytes, self.model_name
        for rec, value in zip(records, values, strict=True):
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
        return (errors, keep, ids, times, texts), feats

    @staticmethod
    def _batch(
        errors: list[Rejected],
        keep: list[Record],
        ids: list[str],
        times: list[datetime],
        texts: list[str],
        feats: Sequence[JsonText],
        encoded: Encoded | TensorEncoded,
    ) -> DecodedBatch:
        """The valid envelopes' columns in matrix row order; rows that failed are rejects."""
        matrix, order, bad = encoded
        for i, exc in bad:
            errors.append(Rejected(keep[i], exc.reason, exc.detail))
        batch = DecodedBatch(matrix=matrix, errors=errors)
        if not bad and len(order) == len(keep):
            batch.records, batch.event_ids, batch.event_times = keep, ids, texts
            batch.event_dts, batch.features = times, feats
            return batch
        batch.records = [keep[i] for i in order]
        batch.event_ids = [ids[i] for i in order]
        batch.event_times = [texts[i] for i in order]
        batch.event_dts = [times[i] for i in order]
        batch.features = (feats.reordered(order) if isinstance(feats, FeatureTexts) else
                          [feats[i] for i in order])
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


def _all_canonical(texts: Sequence[str]) -> bool:
    """Every text is canonical RFC 3339 with an offset (:data:`_CANONICAL_TIMES`).

    Common case, one numpy comparison: the texts are ASCII, all as long as the
    first, which matches, and each has the first's characters where it has no
    digit and an ASCII digit where it has one (so each matches the same way).
    Anything else is decided by the regex over the joined column.

    >>> _all_canonical(["2026-11-24T05:00:00Z"] * 40), _all_canonical(["2026-11-24"] * 40)
    (True, False)
    """
    first = texts[0]
    n = len(texts)
    joined = "".join(texts)
    if (n >= _LAYOUT_MIN_ROWS and joined.isascii() and len(set(map(len, texts))) == 1
            and _ONE_TIME.fullmatch(first)):
        layout = np.frombuffer(first.encode(), np.uint8)
        grid = np.frombuffer(joined.encode(), np.uint8).reshape(n, len(first))
        digit = (layout >= 0x30) & (layout <= 0x39)
        if (grid[:, ~digit] == layout[~digit]).all() and ((grid[:, digit] - 0x30) <= 9).all():
            return True
    return _CANONICAL_TIMES.fullmatch("\n".join(texts)) is not None


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
