from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from streamapp.registry.registry import ModelRegistry
from streamapp.retrain.buffer import OutcomeBuffer
from streamapp.retrain.dataset import build_training_set, recent, target
from tests.conftest import MODELS
from tests.unit.retrain.outcomes import T0, make_outcomes


@pytest.fixture(scope="module")
def manifest():  # type: ignore[no-untyped-def]
    return ModelRegistry(MODELS).resolve("agrawal-clf").manifest


def test_split_is_deterministic_and_disjoint(manifest) -> None:  # type: ignore[no-untyped-def]
    outcomes = make_outcomes(400, drifted=True)
    a = build_training_set(outcomes, manifest, 0.25)
    b = build_training_set(list(reversed(outcomes)), manifest, 0.25)
    assert len(a.x_train) + len(a.x_eval) == 400
    assert 60 < len(a.x_eval) < 140
    assert a.rejected == 0
    assert sorted(map(tuple, a.x_eval.tolist())) == sorted(map(tuple, b.x_eval.tolist()))
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert set(a.y_train.tolist()) <= {0, 1}


def test_bad_rows_are_rejected_not_fatal(manifest) -> None:  # type: ignore[no-untyped-def]
    good = make_outcomes(50, drifted=False)
    broken = [
        good[0].model_copy(update={"event_id": "x1", "features": {**good[0].features, "age": 500}}),
        good[1].model_copy(update={"event_id": "x2", "label": 7}),
    ]
    data = build_training_set(good + broken, manifest, 0.2)
    assert data.rejected == 2
    assert len(data.x_train) + len(data.x_eval) == 50


def test_target_maps_labels_to_class_indices(manifest) -> None:  # type: ignore[no-untyped-def]
    assert target(manifest, 1) == 1
    assert target(manifest, "0") == 0
    assert target(manifest, True) == 1
    with pytest.raises(ValueError):
        target(manifest, "yes")


def test_recent_filters_by_time_and_model_and_dedupes() -> None:
    outcomes = make_outcomes(100, drifted=False)
    since = T0 + timedelta(seconds=0.5)
    duplicate = outcomes[-1].model_copy(update={"label": 1 - int(outcomes[-1].label)})
    other = outcomes[-2].model_copy(update={"model_name": "other", "event_id": "o1"})
    picked = recent([*outcomes, duplicate, other], "agrawal-clf", since, 30)
    assert len(picked) == 30
    assert all(o.event_time >= since and o.model_name == "agrawal-clf" for o in picked)
    assert picked[-1] == duplicate
    assert len({o.event_id for o in picked}) == 30


def test_buffer_is_bounded_and_counts_distinct() -> None:
    buffer = OutcomeBuffer(capacity=50)
    for outcome in make_outcomes(80, drifted=False):
        buffer.add(outcome)
    assert len(buffer) == 50
    assert buffer.count_since("agrawal-clf", T0) == 50
    assert buffer.count_since("agrawal-clf", T0 + timedelta(days=1)) == 0
    assert len(buffer.select("agrawal-clf", T0, 10)) == 10
