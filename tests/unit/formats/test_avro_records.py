"""Avro records of any wire model (the joined outcomes): the generated schema round-trips
through fastavro, the generic writer writes fastavro's bytes behind the Confluent header,
a refusal names the outcomes' settings, and :class:`ModelValues` reads JSON and wire values
back and names what is neither."""

from __future__ import annotations

import doctest
import importlib
import io
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import orjson
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)
from confluent_kafka.schema_registry.error import SchemaRegistryError
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streamapp.formats.model_values import NO_REGISTRY, ModelValues, UndecodableValue
from streamapp.formats.resolver import SchemaResolver
from streamapp.formats.writers.avro_columns import header
from streamapp.formats.writers.avro_records import AvroRecords
from streamapp.formats.writers.avro_schemas import avro_schema
from streamapp.formats.writers.outputs import (
    IncompatibleSchema,
    OutputRegistry,
    register_outcomes,
)
from streamapp.metrics.formats import FormatMetrics
from streamapp.schemas import JoinedOutcome, RetrainReason, RetrainRequest, Variant

T0 = datetime(2026, 12, 7, 6, 30, 1, 123456, tzinfo=UTC)
SCHEMA = fastavro.parse_schema(avro_schema(JoinedOutcome))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
                    st.floats(allow_nan=False), st.text(max_size=12))
outcomes = st.builds(
    JoinedOutcome,
    event_id=st.text(min_size=1, max_size=40),
    model_name=st.text(max_size=20), model_version=st.text(max_size=5),
    variant=st.sampled_from(Variant), holdout=st.booleans(),
    features=st.dictionaries(st.text(max_size=10), scalars, max_size=12),
    scores=st.one_of(st.none(), st.lists(st.floats(allow_nan=False), max_size=4)),
    predicted_label=st.one_of(st.none(), st.integers(-2**40, 2**40), st.text(max_size=6)),
    predicted_value=st.one_of(st.none(), st.floats(allow_nan=False)),
    label=st.one_of(st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                    st.text(max_size=6)),
    event_time=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                            timezones=st.just(UTC)),
    scored_time=st.just(T0), label_time=st.just(T0 + timedelta(seconds=3)),
    label_lag_s=st.floats(allow_nan=False, allow_infinity=False), joined_at=st.just(T0),
)


def _outcome(i: int = 0, **changes: Any) -> JoinedOutcome:
    fields: dict[str, Any] = dict(
        event_id=f"e{i}", model_name="agrawal-clf", model_version="1", variant="primary",
        holdout=False, features={"salary": 52345.5, "age": 41, "car": "11", "ok": True,
                                 "gap": None},
        scores=[0.25, 0.75], predicted_label=1, label=1, event_time=T0, scored_time=T0,
        label_time=T0 + timedelta(seconds=2), label_lag_s=2.0, joined_at=T0)
    return JoinedOutcome(**{**fields, **changes})


def _writer(schema_id: int = 7, prometheus: CollectorRegistry | None = None) -> AvroRecords:
    return AvroRecords(JoinedOutcome, schema_id, FormatMetrics(prometheus or CollectorRegistry()),
                       "joined_outcome")


@settings(max_examples=80, deadline=None)
@given(outcomes)
def test_the_outcome_schema_round_trips_every_outcome_through_fastavro(
        outcome: JoinedOutcome) -> None:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, SCHEMA, outcome.model_dump())
    back = fastavro.schemaless_reader(io.BytesIO(buf.getvalue()), SCHEMA)
    assert JoinedOutcome.model_validate(back) == outcome


@settings(max_examples=40, deadline=None)
@given(st.lists(outcomes, max_size=5), st.integers(0, 2**32 - 1))
def test_the_writer_writes_fastavros_bytes_behind_the_header(
        items: list[JoinedOutcome], schema_id: int) -> None:
    values = _writer(schema_id).encode(items)
    for item, value in zip(items, values, strict=True):
        buf = io.BytesIO(header(schema_id))
        buf.seek(5)
        fastavro.schemaless_writer(buf, SCHEMA, item.model_dump())
        assert value == buf.getvalue()


def test_dicts_and_models_encode_alike_and_are_counted() -> None:
    prometheus = CollectorRegistry()
    writer = _writer(3, prometheus)
    a = _outcome(1)
    assert writer.encode([a]) == writer.encode([a.model_dump()])
    assert prometheus.get_sample_value("streamapp_format_records_encoded_total",
                                       {"format": "avro", "record": "joined_outcome"}) == 2


def test_fields_holding_any_are_written_and_read_back_as_json_text() -> None:
    request = RetrainRequest(model_name="m", model_version="1", reason=RetrainReason.ACCURACY_DROP,
                             metric="psi", observed=0.4, threshold=0.2, window="count:500",
                             idempotency_key="k", requested_at=T0,
                             evidence={"psi": {"age": 0.4}, "n": [1, 2]})
    client = MockSchemaRegistryClient({"url": "mock://any"})
    sid = client.register_schema(
        "r-value", Schema(orjson.dumps(avro_schema(RetrainRequest)).decode(), "AVRO"))
    value = AvroRecords(RetrainRequest, sid, FormatMetrics(CollectorRegistry()),
                        "retrain_request").encode([request])[0]
    resolver = SchemaResolver(client, FormatMetrics(CollectorRegistry()))
    assert ModelValues(RetrainRequest, resolver).decode(value) == request


class _Compat(MockSchemaRegistryClient):
    """The in-memory registry plus the compatibility calls that registration makes."""

    def __init__(self, compatible: bool = True) -> None:
        super().__init__({"url": "mock://compat"})
        self.compatible = compatible

    def get_compatibility(self, subject_name: str | None = None) -> str:
        raise SchemaRegistryError(404, 40408, "no compatibility level for the subject")

    def set_compatibility(self, subject_name: str | None = None, level: str | None = None
                          ) -> str:
        return level or ""

    def test_compatibility(self, subject_name: str, schema: Schema, version: Any = "latest"
                           ) -> bool:
        return self.compatible


def test_outcomes_register_under_the_topic_subject_and_decode_back() -> None:
    client = _Compat()
    metrics = FormatMetrics(CollectorRegistry())
    writer = register_outcomes(OutputRegistry(client, metrics), "outs", metrics)
    latest = client.get_latest_version("outs-value")
    assert writer.schema_id == latest.schema_id
    assert orjson.loads(latest.schema.schema_str or "") == avro_schema(JoinedOutcome)
    items = [_outcome(i) for i in range(3)] + [_outcome(
        9, features={}, scores=None, predicted_label="yes", label=0.5, variant=Variant.SHADOW)]
    values = ModelValues(JoinedOutcome, SchemaResolver(client, metrics))
    assert [values.decode(v) for v in writer.encode(items)] == items


def test_a_refusing_subject_names_the_outcomes_settings_on_one_line() -> None:
    client = _Compat(compatible=False)
    client.register_schema("outs-value", Schema('{"type": "record", "name": "X", "fields": []}',
                                                "AVRO"))
    metrics = FormatMetrics(CollectorRegistry())
    with pytest.raises(IncompatibleSchema) as err:
        register_outcomes(OutputRegistry(client, metrics), "outs", metrics)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("schema registry subject outs-value refuses streamapp's "
                              "JoinedOutcome schema")
    assert message.endswith("(formats.joined_outcomes = avro, topics.joined_outcomes = outs)")


def test_model_values_read_json_and_wire_values_and_name_what_is_neither() -> None:
    client = MockSchemaRegistryClient({"url": "mock://values"})
    sid = client.register_schema(
        "o-value", Schema(orjson.dumps(avro_schema(JoinedOutcome)).decode(), "AVRO"))
    values = ModelValues(JoinedOutcome, SchemaResolver(client, FormatMetrics(CollectorRegistry()),
                                                       stop=threading.Event()))
    item = _outcome(4)
    assert values.decode(item.model_dump_json().encode()) == item
    assert values.decode(_writer(sid).encode([item])[0]) == item

    def reason(value: bytes | None) -> str:
        with pytest.raises(UndecodableValue) as err:
            values.decode(value)
        assert "\n" not in err.value.detail
        return err.value.reason

    wire = _writer(sid).encode([item])[0]
    assert reason(b"{") == "invalid_json"
    assert reason(b"") == "invalid_json"
    assert reason(None) == "invalid_json"
    assert reason(b'{"event_id": "e"}') == "schema_violation"
    assert reason(wire[:9]) == "undecodable_payload"
    assert reason(_writer(sid + 1000).encode([item])[0]) == "unknown_schema"
    assert reason(b"\x00\x00") == "not_wire_format"
    label = client.register_schema("l-value", Schema(
        '{"type": "record", "name": "L", "fields": [{"name": "event_id", "type": "string"}]}',
        "AVRO"))
    thin = header(label) + b"\x02e"
    assert reason(thin) == "schema_violation"  # a record of another model
    assert ModelValues(JoinedOutcome, None).decode(item.model_dump_json().encode()) == item
    with pytest.raises(UndecodableValue) as err:
        ModelValues(JoinedOutcome, None).decode(wire)
    assert err.value.reason == NO_REGISTRY


@pytest.mark.parametrize("module", ["streamapp.formats.writers.avro_records",
                                    "streamapp.formats.model_values"])
def test_doctests(module: str) -> None:
    outcome = doctest.testmod(importlib.import_module(module))
    assert outcome.attempted > 0 and outcome.failed == 0
