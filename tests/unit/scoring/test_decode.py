"""Decoder: every input becomes a row or a dead letter with a reason; never raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.features import FeatureEncoder
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import DeadLetterReason
from streamapp.scoring.decode import Decoder
from streamapp.training.synthetic import agrawal
from tests.conftest import MODELS

MANIFEST = ModelRegistry(MODELS).resolve("agrawal-clf").manifest
T = "2026-11-24T05:00:00+00:00"


@dataclass
class Rec:
    payload: bytes | None
    off: int = 0

    def value(self) -> bytes | None:
        return self.payload

    def key(self) -> bytes | None:
        return b"k"

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.off


def _event(features: object, **extra: object) -> bytes:
    return orjson.dumps({"event_id": "e", "event_time": T, "features": features, **extra})


GOOD = [x for x, _ in agrawal(50, 1)]


def test_valid_events_match_the_training_encoder() -> None:
    decoder = Decoder(MANIFEST, 65536)
    batch = decoder.decode([Rec(_event(x)) for x in GOOD])
    assert not batch.errors and len(batch) == len(GOOD)
    expected = FeatureEncoder(MANIFEST.features).encode_many(GOOD)
    assert batch.matrix.dtype == np.float32
    assert np.array_equal(batch.matrix, expected)
    assert batch.event_times[0] == T


def test_each_reason_code() -> None:
    x = GOOD[0]
    cases = {
        b"{no": DeadLetterReason.INVALID_JSON,
        b'"\xff"': DeadLetterReason.INVALID_UTF8,
        b"[1, 2]": DeadLetterReason.SCHEMA_VIOLATION,
        orjson.dumps({"event_id": "e", "event_time": "2026-01-01T00:00:00", "features": x}):
            DeadLetterReason.SCHEMA_VIOLATION,
        _event(x, extra=1): DeadLetterReason.SCHEMA_VIOLATION,
        _event({**x, "age": None}): DeadLetterReason.MISSING_FEATURE,
        _event({**x, "zz": 1}): DeadLetterReason.UNKNOWN_FEATURE,
        _event({**x, "age": True}): DeadLetterReason.WRONG_TYPE,
        _event({**x, "age": -1}): DeadLetterReason.OUT_OF_RANGE,
        _event({**x, "elevel": 9}): DeadLetterReason.UNKNOWN_CATEGORY,
        _event(x, model="other"): DeadLetterReason.UNKNOWN_MODEL,
        _event(x, key="k" * 200): DeadLetterReason.TOO_LARGE,
    }
    decoder = Decoder(MANIFEST, 300)
    records = [Rec(v, i) for i, v in enumerate(cases)] + [Rec(None, 99)]
    batch = decoder.decode(records)
    assert len(batch) == 0
    got = {e.record.offset(): e.reason for e in batch.errors}
    assert got == {i: r for i, r in enumerate(cases.values())} | {
        99: DeadLetterReason.SCHEMA_VIOLATION}


def test_an_integer_past_float64_is_a_reject_not_a_crash() -> None:
    """A 400-digit integer (valid JSON, no float64 holds it) dead-letters its event and the
    batch's other events are scored, on the per-record path and in a batch of many."""
    huge = _event({**GOOD[0], "salary": 7}).replace(b'"salary":7', b'"salary":1' + b"0" * 400)
    decoder = Decoder(MANIFEST, 65536)
    for records in ([Rec(huge, 0), Rec(_event(GOOD[1]), 1)],
                    [Rec(_event(x), i) for i, x in enumerate(GOOD[:40])] + [Rec(huge, 40)]):
        batch = decoder.decode(records)
        assert [(e.record.offset(), e.reason) for e in batch.errors] == [
            (records.index(next(r for r in records if r.payload is huge)),
             DeadLetterReason.OUT_OF_RANGE)]
        assert "does not fit a 64-bit float" in batch.errors[0].detail
        assert len(batch) == len(records) - 1
    rows = [{**GOOD[0], "salary": 10**400}, GOOD[1]]
    _matrix, kept, bad = FeatureEncoder(MANIFEST.features).encode_batch(rows)
    assert kept == [1] and [(i, e.reason) for i, e in bad] == [(0, DeadLetterReason.OUT_OF_RANGE)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda kids: st.lists(kids, max_size=3)
    | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=200),
            json_values.map(orjson.dumps),
            st.dictionaries(st.sampled_from([*GOOD[0], "junk"]), json_values).map(_event),
            st.sampled_from(GOOD).map(_event),
        ),
        max_size=20,
    )
)
def test_decoder_never_raises_and_accounts_for_every_record(payloads: list[bytes]) -> None:
    decoder = Decoder(MANIFEST, 65536)
    records = [Rec(p, i) for i, p in enumerate(payloads)]
    batch = decoder.decode(records)
    assert len(batch) + len(batch.errors) == len(records)
    assert batch.matrix.shape == (len(batch), len(MANIFEST.features))
    offsets = sorted(
        [r.offset() for r in batch.records] + [e.record.offset() for e in batch.errors]
    )
    assert offsets == list(range(len(records)))
    assert np.isfinite(batch.matrix).all()
    encoder = FeatureEncoder(MANIFEST.features)
    for row, rec in zip(batch.matrix, batch.records, strict=True):
        features = orjson.loads(rec.value() or b"")["features"]
        assert np.array_equal(row, np.asarray(encoder.encode(features), dtype=np.float32))


def test_event_time_is_echoed_only_when_canonical() -> None:
    decoder = Decoder(MANIFEST, 65536)
    texts = ["2026-11-24T05:00:00Z", "2026-11-24T07:00:00.250+02:00", "2026-11-24 05:00:00+00:00"]
    records = [
        Rec(orjson.dumps({"event_id": f"e{i}", "event_time": t, "features": GOOD[0]}), i)
        for i, t in enumerate(texts)
    ]
    batch = decoder.decode(records)
    assert batch.event_times == [texts[0], texts[1], "2026-11-24T05:00:00+00:00"]
    assert [dt.timestamp() for dt in batch.event_dts] == [1795496400.0, 1795496400.25,
                                                         1795496400.0]


_TIME_CHARS = st.sampled_from([*"0123456789-+:.TZ tz\n", "\u0663", "é"])


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(["2026-11-24T05:00:00Z", "2026-11-24T07:00:00.250+02:00",
                          "2026-11-24T07:00:00.123456789-05:30"]),
    edits=st.lists(st.tuples(st.integers(0, 40), _TIME_CHARS), max_size=3),
    rows=st.integers(1, 80),
    at=st.integers(0, 79),
)
def test_column_time_check_agrees_with_the_regex(
    base: str, edits: list[tuple[int, str]], rows: int, at: int
) -> None:
    """The numpy layout check of a batch's event times decides exactly as the regex."""
    from streamapp.scoring.decode import _CANONICAL_TIMES, _all_canonical

    odd = list(base)
    for pos, char in edits:
        odd[pos % len(odd)] = char
    texts = [base] * rows
    texts[at % rows] = "".join(odd)
    for column in (texts, texts[::-1]):
        expected = _CANONICAL_TIMES.fullmatch("\n".join(column)) is not None
        assert _all_canonical(column) == expected
