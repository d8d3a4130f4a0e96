"""Booleans: registered as ``[false, true]``, scored from JSON booleans, binned by the monitor."""

from __future__ import annotations

import msgspec
import numpy as np
import pandas as pd
import pytest

from streamapp.features import FeatureEncoder
from streamapp.monitoring.dataplane.records import LoggedRecord
from streamapp.registration.frame import encode_frame, infer_features
from streamapp.registry.manifest import FeatureSpec, Manifest
from streamapp.schemas import DeadLetterReason
from streamapp.scoring.columns import FeatureColumns
from streamapp.statistics.profile import build_profile
from streamapp.statistics.spec import ModelSpec

FRAME = pd.DataFrame({"flag": [True, False, True, True], "x": [0.5, 1.5, 2.5, 3.5],
                      "size": [1.0, 2.0, 1.0, 3.0], "ratio": [0.5, 1.5, 0.5, 0.5]})


def _specs() -> list[FeatureSpec]:
    return infer_features(FRAME, categorical=["size", "ratio"])


def test_a_boolean_column_registers_as_false_true_and_numbers_as_categories() -> None:
    specs = {s.name: s for s in _specs()}
    assert specs["flag"].categories == [False, True]
    assert specs["size"].categories == [1, 2, 3]  # integral floats are integer categories
    assert specs["ratio"].categories == ["0.5", "1.5"]
    again = FeatureSpec.model_validate_json(specs["flag"].model_dump_json())
    assert again.categories == [False, True]  # true/false survive the manifest's JSON
    assert all(type(c) is bool for c in again.categories or [])


@pytest.mark.parametrize("value", [True, 1, "true", "True"])
def test_the_scorer_takes_a_json_boolean_and_its_aliases(value: object) -> None:
    encoder = FeatureEncoder(_specs())
    row = encoder.encode({"flag": value, "x": 1.0, "size": 2, "ratio": 1.5})
    assert row == [1.0, 1.0, 1.0, 1.0]


def test_a_boolean_is_still_not_a_number_nor_a_plain_category() -> None:
    encoder = FeatureEncoder([*_specs(), FeatureSpec(name="n", type="categorical",
                                                     categories=[0, 1])])
    base = {"flag": True, "x": 1.0, "size": 2, "ratio": 0.5, "n": 0}
    for field in ("x", "n"):
        with pytest.raises(Exception, match="expected a") as caught:
            encoder.encode({**base, field: True})
        assert caught.value.reason is DeadLetterReason.WRONG_TYPE  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="not one of") as unknown:
        encoder.encode({**base, "flag": "maybe"})
    assert unknown.value.reason is DeadLetterReason.UNKNOWN_CATEGORY  # type: ignore[attr-defined]


def test_the_scorers_typed_json_path_and_dict_path_agree_on_booleans() -> None:
    encoder = FeatureEncoder(_specs())
    raws = [b'{"flag": true, "x": 1.0, "size": 2, "ratio": 0.5}',
            b'{"flag": false, "x": 2.0, "size": 3, "ratio": 1.5}',
            b'{"flag": 1, "x": 2.0, "size": 1, "ratio": 1.5}']
    encoded = FeatureColumns(encoder).encode(raws)
    assert encoded is not None
    matrix, order, errors = encoded
    assert errors == []
    rows = np.empty_like(matrix)
    rows[order] = matrix
    assert rows.tolist() == [[1, 1, 1, 0], [0, 2, 2, 1], [1, 2, 0, 1]]
    assert rows.tolist() == encode_frame(pd.DataFrame(
        [msgspec.json.decode(r) for r in raws]).astype({"flag": bool}), _specs()).tolist()


def test_the_monitor_bins_a_boolean_like_the_profile() -> None:
    specs = _specs()
    manifest = Manifest.model_validate({
        "name": "m", "version": "1", "task": "regression", "features": specs,
        "output": {"name": "y"}, "created_at": "2026-12-01T00:00:00Z",
        "artifacts": [{"format": "onnx", "path": "m.onnx", "sha256": "0" * 64}],
    })
    encoded = encode_frame(FRAME, specs)
    profile = build_profile(manifest, encoded, np.zeros((len(FRAME), 1), dtype=np.float32))
    assert profile.categorical["flag"].frequencies == {"False": 0.25, "True": 0.75}
    spec = ModelSpec(manifest, profile)
    logged = [LoggedRecord(event_id=str(i), model_name="m", model_version="1",
                           event_time="2026-12-01T00:00:00Z", scored_time="2026-12-01T00:00:00Z",
                           predicted_value=0.0, features=row)
              for i, row in enumerate([{"flag": True, "x": 1.0, "size": 2, "ratio": 0.5},
                                       {"flag": False, "x": 1.0, "size": 2.0, "ratio": 1.5},
                                       {"flag": 1, "x": 1.0, "size": 1, "ratio": "0.5"},
                                       {"flag": "true", "x": 1.0, "size": 3, "ratio": 0.5}])]
    hist, quality = spec.histograms(logged)
    assert quality == {}
    assert hist["flag"] == [1, 3]  # bins in the profile's order: False, True
    assert hist["size"] == [1, 2, 1]
    assert hist["ratio"] == [3, 1]
