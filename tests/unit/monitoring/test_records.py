"""Batch decoding: the wire contract of streamapp.schemas, errors as data with reason codes."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.monitoring.dataplane.partition import Meta, PartitionState
from streamapp.monitoring.dataplane.records import (
    RawRecord,
    decode_batch,
    decode_label,
    decode_prediction,
    decode_stored,
    encode,
    outcome,
)
from streamapp.monitoring.dataplane.sampled import SampleFilter
from streamapp.sampling import SALT_HOLDOUT, SALT_LOG, selected
from streamapp.schemas import JoinedOutcome, Label, LoggedPrediction
from streamapp.settings.sampling import SamplingSettings
from tests.unit.monitoring.data import labels_for, predictions

VALID = labels_for(predictions(1), 1.0)[0].model_dump(mode="json")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00", "invalid_json"),
        (b"[]", "schema_violation"),
        (b"null", "schema_violation"),
        (orjson.dumps({**VALID, "label": {"nested": 1}}), "schema_violation"),
        (orjson.dumps({k: v for k, v in VALID.items() if k != "event_id"}), "schema_violation"),
        (orjson.dumps({**VALID, "label_time": "2026-01-01T00:00:00"}), "schema_violation"),
        (orjson.dumps({**VALID, "extra": 1}), "schema_violation"),
        (orjson.dumps({**VALID, "event_id": "x" * 300}), "schema_violation"),
        (orjson.dumps({**VALID, "event_id": ""}), "schema_violation"),
        (orjson.dumps({**VALID, "model_name": "y" * 2000}), "too_large"),
    ],
)
def test_bad_labels_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    out = decode_batch([RawRecord(7, b"k", raw)], decode_label, 1024)
    assert out.items == [] and len(out.rejected) == 1
    rej = out.rejected[0]
    assert (rej.offset, rej.reason.value, rej.value, rej.key) == (7, reason, raw, b"k")


def test_records_decode_and_outcomes_encode_the_pydantic_contracts() -> None:
    pred = predictions(1)[0]
    label = labels_for([pred], 1.0)[0]
    p = decode_prediction(pred.model_dump_json().encode())
    lab = decode_label(label.model_dump_json().encode())
    assert LoggedPrediction.model_validate_json(encode(p)) == pred
    assert Label.model_validate_json(encode(lab)) == label
    joined_at = datetime(2026, 2, 1, tzinfo=UTC)
    out = JoinedOutcome.model_validate_json(encode(outcome(p, lab, joined_at)))
    assert out.label_lag_s == 60.0 and out.features == pred.features and out.joined_at == joined_at


def test_a_stored_prediction_keeps_its_features_raw_and_gives_the_same_outcome() -> None:
    pred = predictions(1)[0]
    raw = pred.model_dump_json(exclude={"variant", "holdout"}).encode()  # defaults omitted
    lab = decode_label(labels_for([pred], 1.0)[0].model_dump_json().encode())
    at = datetime(2026, 2, 1, tzinfo=UTC)
    full = JoinedOutcome.model_validate_json(encode(outcome(decode_prediction(raw), lab, at)))
    lite = JoinedOutcome.model_validate_json(encode(outcome(decode_stored(raw), lab, at)))
    assert lite == full and lite.variant == "primary" and lite.holdout is False


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), max_size=50), st.floats(0, 1), st.floats(0, 1))
def test_label_filter_is_the_scorers_logging_decision(
    ids: list[str], log_rate: float, holdout_rate: float
) -> None:
    keep = SampleFilter(SamplingSettings(log_rate=log_rate, holdout_rate=holdout_rate))
    records = [RawRecord(i, e.encode(), b"{}") for i, e in enumerate(ids)]
    kept, dropped, keyless = keep.by_key(records)
    want = [
        e for e in ids
        if selected(e, SALT_LOG, log_rate) or selected(e, SALT_HOLDOUT, holdout_rate)
    ]
    assert [r.key() for r in kept] == [e.encode() for e in want]
    assert dropped == len(ids) - len(want) and keyless == 0
    assert all(keep.keep(e) for e in want)


def test_keyless_labels_are_kept_for_a_decision_on_their_event_id() -> None:
    keep = SampleFilter(SamplingSettings(log_rate=0.0, holdout_rate=0.0))
    kept, dropped, keyless = keep.by_key([RawRecord(0, None, b"{}"), RawRecord(1, b"e", b"{}")])
    assert [r.offset() for r in kept] == [0] and dropped == 1 and keyless == 1


def test_watermark_advances_with_idle_time_and_meta_round_trips() -> None:
    meta = Meta(seq=3, offsets={"a": 5}, event_time=100.0, held={"prediction": 2},
                summaries=["{}"], changelog_next=9)
    assert Meta.from_json(meta.to_json()) == meta
    part = PartitionState(0, store=None, meta=meta)  # type: ignore[arg-type]
    part.last_arrival = 50.0
    assert part.watermark(50.0) == 100.0 and part.watermark(60.5) == 110.5
    assert part.consumed == {"a": 5} and part.held == {"prediction": 2}
