from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.features import FeatureEncoder, FeatureError
from streamapp.schemas import DeadLetterReason
from streamapp.training.synthetic import AGRAWAL_FEATURES, agrawal

ENC = FeatureEncoder(AGRAWAL_FEATURES)
GOOD = next(agrawal(1, seed=1))[0]


def test_encode_decode_roundtrip() -> None:
    row = ENC.encode(GOOD)
    assert len(row) == len(AGRAWAL_FEATURES)
    back = ENC.decode(row)
    for k, v in GOOD.items():
        assert back[k] == pytest.approx(v)


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ({"age": None}, DeadLetterReason.MISSING_FEATURE),
        ({"age": "old"}, DeadLetterReason.WRONG_TYPE),
        ({"age": True}, DeadLetterReason.WRONG_TYPE),
        ({"age": math.inf}, DeadLetterReason.NON_FINITE),
        ({"age": -1}, DeadLetterReason.OUT_OF_RANGE),
        ({"elevel": 9}, DeadLetterReason.UNKNOWN_CATEGORY),
        ({"elevel": [1]}, DeadLetterReason.WRONG_TYPE),
        ({"bogus": 1}, DeadLetterReason.UNKNOWN_FEATURE),
    ],
)
def test_bad_values_raise_with_reason(patch: dict[str, object], reason: DeadLetterReason) -> None:
    with pytest.raises(FeatureError) as info:
        ENC.encode({**GOOD, **patch})
    assert info.value.reason is reason


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.floats(), st.text())))
def test_arbitrary_input_never_crashes(features: dict[str, object]) -> None:
    with contextlib.suppress(FeatureError):
        ENC.encode(features)
