"""Avro predictions: the column encoder writes fastavro's exact bytes; registration at start
sets BACKWARD, refuses an incompatible subject with one line, waits through an outage; the
router sends Avro to the predictions topic and keeps the prediction log JSON."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import numpy as np
import orjson
import pytest
from confluent_kafka.schema_registry import RegisteredSchema, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

import streamapp.formats.writers.avro_columns as col
from streamapp.formats.writers.outputs import (
    AvroPredictions,
    IncompatibleSchema,
    OutputRegistry,
    prediction_schema,
)
from streamapp.metrics.formats import FormatMetrics
from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.loader import load_model
from streamapp.schemas import LoggedPrediction, Prediction
from streamapp.scoring.decode import Decoder
from streamapp.scoring.router import Router
from streamapp.settings.sampling import SamplingSettings
from streamapp.settings.topics import TopicSettings
from tests.conftest import MODELS
from tests.unit.scoring.test_decode import GOOD, Rec

SCHEMA = fastavro.parse_schema(prediction_schema())
NOW = datetime(2026, 12, 7, 6, 30, 1, 123456, tzinfo=UTC)


def _reference(values: dict[str, Any], schema_id: int) -> bytes:
    buf = io.BytesIO()
    buf.write(col.header(schema_id))
    fastavro.schemaless_writer(buf, SCHEMA, values)
    return buf.getvalue()


def _decode(value: bytes) -> dict[str, Any]:
    out: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), SCHEMA)
    assert isinstance(out, dict)
    return out


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=30),
    classes=st.one_of(st.none(), st.lists(st.integers(-2**40, 2**40), min_size=2, max_size=4,
                                          unique=True),
                      st.lists(st.text(max_size=8), min_size=2, max_size=4, unique=True)),
    seconds=st.integers(-2**34, 2**34),
    name=st.text(min_size=1, max_size=20),
    schema_id=st.integers(0, 2**32 - 1),
    seed=st.integers(0, 2**16),
)
def test_column_encoding_is_byte_identical_to_fastavro(
    ids: list[str], classes: list[Any] | None, seconds: int, name: str, schema_id: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    n = len(ids)
    width = len(classes) if classes else 1
    outputs = (rng.normal(size=(n, width)) * 1e3).astype(np.float32)
    times = [NOW + timedelta(seconds=seconds, microseconds=int(u))
             for u in rng.integers(-10**9, 10**9, n)]
    holdout = rng.random(n) < 0.5
    encoder = AvroPredictions(schema_id, FormatMetrics(CollectorRegistry()))
    keys = [i.encode() for i in ids]
    values = encoder.encode(name, "v%1", "canary", NOW, keys, times, outputs, classes, holdout)
    for i, value in enumerate(values):
        expected = {
            "event_id": ids[i], "model_name": name, "model_version": "v%1", "variant": "canary",
            "scores": outputs[i].astype(float).tolist() if classes else None,
            "predicted_label": classes[int(outputs[i].argmax())] if classes else None,
            "predicted_value": None if classes else float(outputs[i, 0]),
            "holdout": bool(holdout[i]), "event_time": times[i], "scored_time": NOW,
        }
        assert value == _reference(expected, schema_id)


@given(st.lists(st.integers(-2**63, 2**63 - 1), max_size=50))
def test_vectorised_longs_equal_the_scalar_encoding(values: list[int]) -> None:
    assert col.longs(np.array(values, dtype=np.int64)) == [col.long_bytes(v) for v in values]


def test_encoded_records_are_counted_per_batch() -> None:
    prometheus = CollectorRegistry()
    encoder = AvroPredictions(7, FormatMetrics(prometheus))
    encoder.encode("m", "1", "primary", NOW, [b"a", b"b"], [NOW, NOW],
                   np.array([[0.1, 0.9], [0.8, 0.2]], dtype=np.float32), [0, 1],
                   np.array([False, True]))
    assert prometheus.get_sample_value("streamapp_format_records_encoded_total",
                                       {"format": "avro", "record": "prediction"}) == 2


class FakeRegistry:
    """The five calls registration makes, with a subject level, versions and failures."""

    def __init__(self, level: str | None = None, versions: int = 0, compatible: bool = True,
                 down: int = 0, conflict: bool = False) -> None:
        self.level, self.versions, self.compatible = level, versions, compatible
        self.down, self.conflict = down, conflict
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.down > 0:
            self.down -= 1
            raise ConnectionRefusedError("connection refused")

    def get_compatibility(self, subject: str) -> str:
        self._call("get_compatibility")
        if self.level is None:
            raise SchemaRegistryError(404, 40408, "no compatibility level for the subject")
        return self.level

    def set_compatibility(self, subject: str, level: str) -> str:
        self._call(f"set_compatibility {level}")
        self.level = level
        return level

    def get_latest_version(self, subject: str) -> RegisteredSchema:
        self._call("get_latest_version")
        if not self.versions:
            raise SchemaRegistryError(404, 40401, "subject not found")
        return RegisteredSchema(schema_id=1, guid=None, schema=Schema("{}", "AVRO"),
                                subject=subject,
                                version=self.versions)

    def test_compatibility(self, subject: str, schema: Schema) -> bool:
        self._call("test_compatibility")
        assert orjson.loads(schema.schema_str or "") == prediction_schema()
        return self.compatible

    def register_schema(self, subject: str, schema: Schema) -> int:
        self._call("register_schema")
        if self.conflict:
            raise SchemaRegistryError(409, 409, "incompatible schema")
        return 42


def _outputs(fake: FakeRegistry, stop: threading.Event | None = None) -> OutputRegistry:
    return OutputRegistry(fake, FormatMetrics(CollectorRegistry()), 0.05, stop=stop)  # type: ignore[arg-type]


def test_a_new_subject_is_set_to_backward_and_registered() -> None:
    fake = FakeRegistry()
    assert _outputs(fake).register_output("p-value", prediction_schema()) == 42
    assert fake.calls == ["get_compatibility", "set_compatibility BACKWARD",
                          "get_latest_version", "register_schema"]


@pytest.mark.parametrize(("level", "kept"), [("NONE", "BACKWARD"), ("FULL", "FULL"),
                                             ("FORWARD_TRANSITIVE", "FORWARD_TRANSITIVE")])
def test_a_subject_level_is_kept_unless_none(level: str, kept: str) -> None:
    fake = FakeRegistry(level=level, versions=2)
    assert _outputs(fake).register_output("p-value", prediction_schema()) == 42
    assert fake.level == kept
    assert "test_compatibility" in fake.calls


def test_an_incompatible_latest_version_refuses_with_one_line_naming_the_subject() -> None:
    fake = FakeRegistry(level="BACKWARD", versions=3, compatible=False)
    with pytest.raises(IncompatibleSchema) as err:
        _outputs(fake).register_output("preds-value", prediction_schema())
    message = str(err.value)
    assert "\n" not in message
    assert "subject preds-value" in message and "latest version 3" in message
    assert "BACKWARD" in message and "PUT /config/preds-value" in message
    assert "register_schema" not in fake.calls


def test_a_conflict_at_registration_is_a_refusal_too() -> None:
    fake = FakeRegistry(level="BACKWARD", conflict=True)
    with pytest.raises(IncompatibleSchema, match=r"subject p-value refuses .*HTTP 409"):
        _outputs(fake).register_output("p-value", prediction_schema())


def test_an_outage_at_start_is_waited_out_and_reported() -> None:
    fake = FakeRegistry(down=3)
    outputs = _outputs(fake)
    assert outputs.register_output("p-value", prediction_schema()) == 42
    assert fake.calls[:4] == ["get_compatibility"] * 4
    assert outputs.ready_reason() is None
    assert outputs.metrics.lookups.labels(outcome="unavailable")._value.get() == 3


def test_a_stop_during_an_outage_ends_the_wait() -> None:
    from streamapp.formats import RegistryStopped

    stop = threading.Event()
    outputs = _outputs(FakeRegistry(down=10**6), stop)
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(RegistryStopped):
        outputs.register_output("p-value", prediction_schema())
    assert "schema registry unreachable" in (outputs.ready_reason() or "")


def _event(i: int) -> bytes:
    return orjson.dumps({"event_id": f"e{i}", "event_time": "2026-11-24T05:00:00.25+01:00",
                         "features": GOOD[i % len(GOOD)]})


def test_the_router_writes_avro_predictions_and_keeps_the_log_json() -> None:
    model = load_model(ModelRegistry(MODELS).resolve("agrawal-clf"), "onnx", "cpu")
    topics = TopicSettings()
    sampling = SamplingSettings(log_rate=0.3, holdout_rate=0.1, publish_holdout=False)
    batch = Decoder(model.manifest, 65536).decode([Rec(_event(i), i) for i in range(120)])
    json_routed = Router(topics, sampling).route(batch, model, None)
    avro = AvroPredictions(9, FormatMetrics(CollectorRegistry()))
    avro_routed = Router(topics, sampling, avro).route(batch, model, None)

    def by_topic(routed: Any) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = {}
        for rec in routed.outgoing():
            out.setdefault(rec.topic, []).append(rec.value)
        return out

    js, av = by_topic(json_routed), by_topic(avro_routed)
    assert all(v[:5] == col.header(9) for v in av[topics.predictions])
    from_avro = [Prediction.model_validate(_decode(v)) for v in av[topics.predictions]]
    from_json = [Prediction.model_validate_json(v) for v in js[topics.predictions]]
    assert len(from_avro) == len(from_json) > 50
    for a, j in zip(from_avro, from_json, strict=True):
        assert a.model_dump(exclude={"scored_time", "scores"}) == j.model_dump(
            exclude={"scored_time", "scores"})
        assert a.scores == pytest.approx(j.scores, rel=1e-6)
        assert a.event_time == datetime(2026, 11, 24, 4, 0, 0, 250000, tzinfo=UTC)
    logs = [LoggedPrediction.model_validate_json(v) for v in av[topics.prediction_log]]
    assert {x.event_id for x in logs} == {
        x.event_id for x in map(LoggedPrediction.model_validate_json, js[topics.prediction_log])}
    assert avro_routed.predictions == json_routed.predictions
