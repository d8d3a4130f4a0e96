"""Vectorised records are valid JSON whatever the ids; typed batch decode falls back safely."""

from __future__ import annotations

import doctest

import numpy as np
import orjson
from hypothesis import given
from hypothesis import strategies as st

from streamapp.schemas import Prediction
from streamapp.scoring import encode
from streamapp.scoring.decode import Decoder
from tests.unit.scoring.test_decode import GOOD, Rec


def test_doctests() -> None:
    assert doctest.testmod(encode).failed == 0


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=20))
def test_predictions_are_valid_json_for_any_event_id(ids: list[str]) -> None:
    tmpl = encode.template('m"%s\\', "1%", "primary", "2026-11-29T00:00:00+00:00", True)
    outputs = np.tile(np.array([[0.25, 0.75]], dtype=np.float32), (len(ids), 1))
    values = encode.predictions(
        tmpl, encode.json_bodies(ids), encode.json_bodies(["2026-11-29T00:00:00Z"] * len(ids)),
        outputs, [0, 1], np.array([i % 2 == 0 for i in range(len(ids))]),
    )
    preds = [Prediction.model_validate_json(v) for v in values]
    assert [p.event_id for p in preds] == ids
    assert {p.model_name for p in preds} == {'m"%s\\'} and preds[0].predicted_label == 1
    assert orjson.loads(encode.with_features(values[0], b'{"x": 1.5}'))["features"] == {"x": 1.5}


@given(st.lists(st.text(max_size=8), min_size=1, max_size=8), st.booleans())
def test_records_are_byte_identical_to_a_plain_orjson_rendering(
    ids: list[str], classes: bool
) -> None:
    n, scored = len(ids), "2026-11-29T00:00:01+00:00"
    outputs = np.random.default_rng(n).random((n, 2 if classes else 1)).astype(np.float32)
    holdout = np.arange(n) % 3 == 0
    times = [f"2026-11-29T00:00:0{i % 10}Z" for i in range(n)]
    got = encode.predictions(
        encode.template("m", "1", "primary", scored, classes), encode.json_bodies(ids),
        encode.json_bodies(times), outputs, ["no", "yes"] if classes else None, holdout)
    want = [orjson.dumps({
        "event_id": ids[i], "model_name": "m", "model_version": "1", "variant": "primary",
        "scores": outputs[i] if classes else None,
        "predicted_label": ["no", "yes"][int(outputs[i].argmax())] if classes else None,
        "predicted_value": None if classes else outputs[i, 0], "holdout": bool(holdout[i]),
        "event_time": times[i], "scored_time": scored}, option=orjson.OPT_SERIALIZE_NUMPY)
        for i in range(n)]
    assert got == want


def test_typed_batch_decode_falls_back_per_record_and_keeps_reasons() -> None:
    def ev(i: int, **extra: object) -> bytes:
        return orjson.dumps({"event_id": f"e{i}", "event_time": "2026-11-24T05:00:00Z",
                             "features": GOOD[i % len(GOOD)], **extra})

    with_newline = ev(1).replace(b',"features"', b',\n"features"')  # legal JSON whitespace
    decoder = Decoder(_manifest(), 65536)
    batch = decoder.decode([Rec(ev(0), 0), Rec(with_newline, 1), Rec(b"{x", 2),
                            Rec(ev(3, event_time="2026-11-24 05:00:00+0000"), 3)])
    assert batch.event_ids == ["e0", "e1", "e3"]
    assert batch.event_times[2] == "2026-11-24T05:00:00+00:00"  # re-rendered canonical
    assert [r.reason.value for r in batch.errors] == ["invalid_json"]


def _manifest():  # type: ignore[no-untyped-def]
    from streamapp.registry.registry import ModelRegistry
    from tests.conftest import MODELS

    return ModelRegistry(MODELS).resolve("agrawal-clf").manifest
