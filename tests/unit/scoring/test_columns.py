"""Feature columns: the typed batch path gives exactly the training encoder's rows and reasons."""

from __future__ import annotations

import doctest
from typing import Any

import msgspec
import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.features import FeatureEncoder
from streamapp.registry.manifest import FeatureSpec
from streamapp.scoring import columns
from streamapp.scoring.columns import FeatureColumns
from streamapp.scoring.decode import Decoder
from tests.unit.scoring.test_decode import GOOD, MANIFEST, Rec, T

ENCODER = FeatureEncoder(MANIFEST.features)


def _same(raws: list[bytes], dicts: list[dict[str, Any]], encoder: FeatureEncoder) -> None:
    got = FeatureColumns(encoder).encode(raws)
    assert got is not None
    matrix, order, errors = got
    want_matrix, want_order, want_errors = encoder.encode_batch(dicts)
    assert sorted(order) == sorted(want_order)
    rows = dict(zip(order, matrix.tolist(), strict=True))
    assert rows == dict(zip(want_order, want_matrix.tolist(), strict=True))
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    assert [(i, e.reason, e.detail) for i, e in errors] == [
        (i, e.reason, e.detail) for i, e in want_errors]


def test_doctests() -> None:
    assert doctest.testmod(columns).failed == 0


def test_valid_batch_takes_the_typed_path_in_input_order() -> None:
    cols = FeatureColumns(ENCODER)
    assert cols._typed is not None  # the demo manifest is all numeric / integer categories
    got = cols.encode([orjson.dumps(x) for x in GOOD])
    assert got is not None
    assert got[1] == list(range(len(GOOD))) and not got[2]
    assert np.array_equal(got[0], ENCODER.encode_many(GOOD))


values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 20), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3),
    st.sampled_from([1.0, 2.5, "1", "x"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(GOOD), st.dictionaries(
    st.sampled_from([*GOOD[0], "junk"]), values, max_size=2), st.booleans()), max_size=12))
def test_any_values_match_encode_batch(
    rows: list[tuple[dict[str, Any], dict[str, Any], bool]],
) -> None:
    dicts = [{k: v for k, v in {**good, **patch}.items() if not drop or k != "age"}
             for good, patch, drop in rows]
    _same([msgspec.json.encode(d) for d in dicts], dicts, ENCODER)


def test_string_categories_use_the_dict_path() -> None:
    specs = [FeatureSpec(name="n", type="numeric", min=0, max=1),
             FeatureSpec(name="c", type="categorical", categories=["a", "b"])]
    encoder = FeatureEncoder(specs)
    assert encoder.vector_types() is None
    dicts: list[dict[str, Any]] = [{"n": 0.5, "c": "b"}, {"n": 2, "c": "a"}, {"n": 1, "c": "z"}]
    _same([orjson.dumps(d) for d in dicts], dicts, encoder)


def test_a_value_that_is_not_an_object_gives_none() -> None:
    assert FeatureColumns(ENCODER).encode([orjson.dumps(GOOD[0]), b"[1,2]"]) is None


def test_log_records_keep_the_producers_feature_text() -> None:
    text = orjson.dumps(GOOD[0]).replace(b"{", b"{ ", 1)  # legal whitespace, kept as written
    value = b'{"event_id":"e","event_time":"' + T.encode() + b'","features":' + text + b"}"
    batch = Decoder(MANIFEST, 65536).decode([Rec(value), Rec(value, 1)])
    assert not batch.errors and [bytes(f) for f in batch.features] == [text, text]
