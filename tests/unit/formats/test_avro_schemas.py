"""Avro schemas generated from the pydantic wire models: valid, faithful, round-tripping."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import fastavro
import orjson
import pytest
from pydantic import AwareDatetime, BaseModel, Field

from streamapp.formats.writers.avro_schemas import TIMESTAMP, avro_schema, json_text_fields
from streamapp.schemas import (
    WIRE_MODELS,
    DeadLetter,
    DeadLetterReason,
    Decision,
    JoinedOutcome,
    LoggedPrediction,
    Prediction,
    PromotionDecision,
    RetrainReason,
    RetrainRequest,
    Variant,
)

NOW = datetime(2026, 12, 7, 6, 30, 1, 123456, tzinfo=UTC)


def _types(model: type[BaseModel]) -> dict[str, Any]:
    return {f["name"]: f["type"] for f in avro_schema(model)["fields"]}


def _round_trip(model: type[BaseModel], instance: BaseModel) -> dict[str, Any]:
    """Write ``instance`` with the generated schema and read it back (fastavro)."""
    schema = fastavro.parse_schema(avro_schema(model))
    datum = instance.model_dump(mode="python")
    for name in json_text_fields(model):
        datum[name] = None if datum[name] is None else orjson.dumps(datum[name]).decode()
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, datum)
    buf.seek(0)
    out: Any = fastavro.schemaless_reader(buf, schema)
    assert isinstance(out, dict)
    return out


@pytest.mark.parametrize("model", WIRE_MODELS, ids=lambda m: m.__name__)
def test_every_wire_model_has_a_valid_schema_with_its_fields_in_order(
    model: type[BaseModel],
) -> None:
    schema = avro_schema(model)
    fastavro.parse_schema(schema)  # raises on an invalid schema or default
    assert schema["name"] == model.__name__ and schema["namespace"] == "streamapp"
    assert [f["name"] for f in schema["fields"]] == list(model.model_fields)


def test_prediction_maps_optionals_unions_datetimes_and_enums() -> None:
    types = _types(Prediction)
    fields = {f["name"]: f for f in avro_schema(Prediction)["fields"]}
    assert types["event_id"] == "string"
    assert types["variant"] == "string" and fields["variant"]["default"] == "primary"
    assert types["scores"] == ["null", {"type": "array", "items": "double"}]
    assert fields["scores"]["default"] is None
    assert types["predicted_label"] == ["null", "long", "string"]
    assert types["predicted_value"] == ["null", "double"]
    assert types["holdout"] == "boolean" and fields["holdout"]["default"] is False
    assert types["event_time"] == TIMESTAMP == types["scored_time"]
    assert "default" not in fields["event_time"]
    assert fields["scores"]["doc"].startswith("Class probabilities")


def test_logged_prediction_features_are_a_map_and_raw_inputs_json_text() -> None:
    types = _types(LoggedPrediction)
    assert types["features"] == {"type": "map",
                                 "values": ["null", "boolean", "long", "double", "string"]}
    assert types["inputs"] == ["null", "string"]
    assert json_text_fields(LoggedPrediction) == {"inputs"}


def test_records_round_trip_through_the_generated_schemas() -> None:
    prediction = Prediction(event_id="e1", model_name="m", model_version="3",
                            variant=Variant.CANARY, scores=[0.25, 0.75], predicted_label="yes",
                            holdout=True, event_time=NOW, scored_time=NOW)
    back = _round_trip(Prediction, prediction)
    assert Prediction.model_validate(back) == prediction
    assert back["event_time"] == NOW  # microseconds kept, UTC

    logged = LoggedPrediction(event_id="e2", model_name="m", model_version="3",
                              predicted_value=1.5, event_time=NOW, scored_time=NOW,
                              features={"a": 1, "b": 2.5, "c": "x", "d": True, "e": None},
                              inputs={"t": [[1, 2], [3, 4]]})
    back = _round_trip(LoggedPrediction, logged)
    assert back["features"] == {"a": 1, "b": 2.5, "c": "x", "d": True, "e": None}
    assert type(back["features"]["a"]) is int and type(back["features"]["d"]) is bool
    assert orjson.loads(back["inputs"]) == {"t": [[1, 2], [3, 4]]}

    outcome = JoinedOutcome(event_id="e3", model_name="m", model_version="1",
                            variant=Variant.PRIMARY, holdout=False, features={"a": 1.0},
                            predicted_label=1, label=0, event_time=NOW, scored_time=NOW,
                            label_time=NOW, label_lag_s=0.5, joined_at=NOW)
    assert JoinedOutcome.model_validate(_round_trip(JoinedOutcome, outcome)) == outcome

    letter = DeadLetter(reason=DeadLetterReason.WRONG_TYPE, detail="x", source_topic="t",
                        source_partition=1, source_offset=2**40, original_b64="e30=",
                        failed_at=NOW)
    assert DeadLetter.model_validate(_round_trip(DeadLetter, letter)) == letter

    request = RetrainRequest(model_name="m", model_version="1",
                             reason=RetrainReason.FEATURE_DRIFT, metric="psi", observed=0.4,
                             threshold=0.2, window="count:2000", affected_features=["a"],
                             evidence={"psi": {"a": 0.4}, "n": 2000}, idempotency_key="k",
                             requested_at=NOW)
    back = _round_trip(RetrainRequest, request)
    assert orjson.loads(back.pop("evidence")) == {"psi": {"a": 0.4}, "n": 2000}
    assert RetrainRequest.model_validate({**back, "evidence": request.evidence}) == request

    decision = PromotionDecision(model_name="m", candidate_version="2", primary_version="1",
                                 mode=Variant.SHADOW, decision=Decision.PROMOTE,
                                 metric="accuracy", test="mcnemar_exact", effect=0.02,
                                 ci_lower=None, ci_upper=0.05, confidence=0.95, p_value=0.01,
                                 alpha=0.05, samples=100, primary_samples=100, look=0,
                                 idempotency_key="k", decided_at=NOW)
    back = _round_trip(PromotionDecision, decision)
    assert PromotionDecision.model_validate(back) == decision


def test_a_reader_of_the_generated_schema_reads_a_record_without_optional_fields() -> None:
    """Defaults make adding an optional field BACKWARD compatible: old data, new reader."""
    old = {"type": "record", "name": "Prediction", "namespace": "streamapp", "fields": [
        f for f in avro_schema(Prediction)["fields"]
        if f["name"] not in ("scores", "predicted_label", "predicted_value", "holdout",
                             "variant")]}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(old), {
        "event_id": "e", "model_name": "m", "model_version": "1", "event_time": NOW,
        "scored_time": NOW})
    buf.seek(0)
    back: Any = fastavro.schemaless_reader(buf, fastavro.parse_schema(old),
                                           fastavro.parse_schema(avro_schema(Prediction)))
    assert back["scores"] is None and back["holdout"] is False and back["variant"] == "primary"


class _Kind(StrEnum):
    A = "a"


class _Inner(BaseModel):
    x: int


class _Sample(BaseModel):
    """A sample.

    Second paragraph, not in the doc.
    """

    when: AwareDatetime
    plain: datetime
    kind: _Kind = _Kind.A
    mode: Literal["on", "off"] = "on"
    inner: _Inner
    tags: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    anything: dict[str, Any] = Field(default_factory=dict)
    maybe: int | None = None
    ratio: float = 0.5


def test_generic_models_map_nested_records_literals_and_factory_defaults() -> None:
    schema = avro_schema(_Sample, namespace="test")
    fastavro.parse_schema(schema)
    fields = {f["name"]: f for f in schema["fields"]}
    assert schema["doc"] == "A sample."
    assert fields["when"]["type"] == TIMESTAMP == fields["plain"]["type"]
    assert fields["kind"] == {"name": "kind", "type": "string", "default": "a"}
    assert fields["mode"]["type"] == "string" and fields["mode"]["default"] == "on"
    assert fields["inner"]["type"] == {"type": "record", "name": "_Inner", "namespace": "test",
                                       "fields": [{"name": "x", "type": "long"}]}
    assert fields["tags"]["default"] == [] and fields["counts"]["default"] == {}
    assert fields["anything"] == {"name": "anything", "type": "string", "default": "{}"}
    assert fields["maybe"]["type"] == ["null", "long"] and fields["maybe"]["default"] is None
    assert fields["ratio"]["default"] == 0.5


class _BadKey(BaseModel):
    m: dict[int, str]


class _Unknown(BaseModel):
    b: bytes | set[str]


@pytest.mark.parametrize(("model", "where"), [(_BadKey, "_BadKey.m"), (_Unknown, "_Unknown.b")])
def test_an_unmappable_field_is_named(model: type[BaseModel], where: str) -> None:
    with pytest.raises(TypeError, match=where):
        avro_schema(model)
