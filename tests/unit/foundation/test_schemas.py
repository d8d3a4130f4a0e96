from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from streamapp.cli.schemas_cmd import render
from streamapp.schemas import Event, Label, Prediction, RetrainRequest, json_schemas
from tests.conftest import REPO

SCHEMA_DIR = REPO / "schemas"


def test_committed_json_schemas_match_models() -> None:
    """Fails when a wire model changes without `streamapp schemas export`."""
    expected = json_schemas()
    committed = {p.name for p in SCHEMA_DIR.glob("*.schema.json")}
    assert committed == set(expected), "schemas/ has stale or missing files"
    for name, schema in expected.items():
        assert (SCHEMA_DIR / name).read_text() == render(schema), (
            f"{name} drifted; run `streamapp schemas export`"
        )


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Event(event_id="e1", event_time=datetime(2026, 1, 1), features={})


def test_event_roundtrip_and_extra_fields_rejected() -> None:
    e = Event(event_id="e1", event_time=datetime.now(UTC), features={"a": 1.5, "b": "x"})
    assert Event.model_validate_json(e.model_dump_json()) == e
    with pytest.raises(ValidationError):
        Event.model_validate({**json.loads(e.model_dump_json()), "surprise": 1})


def test_prediction_and_label_contracts() -> None:
    now = datetime.now(UTC)
    p = Prediction(
        event_id="e1",
        model_name="m",
        model_version="1",
        scores=[0.2, 0.8],
        predicted_label=1,
        event_time=now,
        scored_time=now,
    )
    assert p.variant == "primary" and p.holdout is False
    assert Label(event_id="e1", label=1, label_time=now).label == 1
    with pytest.raises(ValidationError):
        Label(event_id="", label=1, label_time=now)


def test_retrain_request_requires_evidence_fields() -> None:
    with pytest.raises(ValidationError):
        RetrainRequest.model_validate({"model_name": "m"})
