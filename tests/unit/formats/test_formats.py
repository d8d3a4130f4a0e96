"""streamapp.formats without a broker: wire header, field mapping, the decoder hook with
confluent-kafka's in-memory registry client, settings and masking."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime
from typing import Any

import fastavro
import numpy as np
import orjson
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streamapp.config import ConfigError, Settings, masked_dump
from streamapp.formats.mapping.fields import FieldMap
from streamapp.formats.mapping.topic import RegistryFormat
from streamapp.formats.readers import AvroReader
from streamapp.formats.resolver import SchemaResolver
from streamapp.formats.wire import NotWireFormat, schema_id
from streamapp.metrics.formats import FormatMetrics
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import DeadLetterReason as R
from streamapp.scoring.decode import Decoder
from streamapp.settings.formats import FormatSettings, SchemaRegistrySettings
from streamapp.testing.fakes import InMemoryRecord
from streamapp.training.synthetic import agrawal
from tests.conftest import MODELS

MANIFEST = ModelRegistry(MODELS).resolve("agrawal-clf").manifest
FEATURES = MANIFEST.feature_names


def _schema(extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "record", "name": "E", "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "who", "type": {"type": "record", "name": "Who",
                                 "fields": [{"name": "age", "type": "int"}]}},
        *({"name": n, "type": "double"} for n in FEATURES if n != "age"),
        *(extra or []),
    ]}


def _avro(sid: int, schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return b"\x00" + struct.pack(">I", sid) + out.getvalue()


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"event_id": f"e{i}", "event_time": datetime.now(UTC), "who": {"age": int(x["age"])},
             **{k: float(v) for k, v in x.items() if k != "age"}}
            for i, (x, _y) in enumerate(agrawal(n, 1))]


def _decoder(client: MockSchemaRegistryClient, subject: str | None = "t-value") -> Decoder:
    metrics = FormatMetrics(CollectorRegistry())
    resolver = SchemaResolver(client, metrics)
    fmt = RegistryFormat(AvroReader(resolver, subject),
                         FormatSettings(events="avro", features={"age": "who.age"}),
                         metrics, resolver)
    return Decoder(MANIFEST, 65536, fmt)


def test_an_avro_batch_decodes_with_nested_fields_and_every_bad_value_has_its_reason() -> None:
    client = MockSchemaRegistryClient({"url": "mock://unit"})
    sid = client.register_schema("t-value", Schema(orjson.dumps(_schema()).decode(), "AVRO"))
    good = [_avro(sid, _schema(), r) for r in _rows(50)]
    bad = [b'{"json": 1}', b"\x00\x00\x00\x00\x09\x02", good[0][:8],
           _avro(sid, _schema(), {**_rows(1)[0], "salary": float("nan")})]
    records = [InMemoryRecord("t", 0, i, f"k{i}".encode(), v) for i, v in enumerate(good + bad)]
    batch = _decoder(client).decode(records)
    assert batch.event_ids == [f"e{i}" for i in range(50)]
    assert isinstance(batch.matrix, np.ndarray) and batch.matrix.shape == (50, len(FEATURES))
    assert [(e.reason, e.record.offset()) for e in batch.errors] == [
        (R.NOT_WIRE_FORMAT, 50), (R.UNKNOWN_SCHEMA, 51), (R.UNDECODABLE_PAYLOAD, 52),
        (R.NON_FINITE, 53)]
    assert orjson.loads(batch.features[0])["age"] == _rows(1)[0]["who"]["age"]


def test_the_features_json_is_rendered_for_the_rows_read_as_the_per_record_path_would(
) -> None:
    """A wire-format batch renders its features JSON only when the log takes rows: the
    column rows, a row read record by record (a non-ASCII id) and a reject in between
    (which reorders the batch) each give their own event's features."""
    client = MockSchemaRegistryClient({"url": "mock://unit"})
    sid = client.register_schema("t-value", Schema(orjson.dumps(_schema()).decode(), "AVRO"))
    rows = _rows(40)
    rows[5]["salary"] = float("nan")  # vouched by the reader, rejected by the encoder
    rows[9]["event_id"] = "é9"  # record by record
    records = [InMemoryRecord("t", 0, i, None, _avro(sid, _schema(), r))
               for i, r in enumerate(rows)]
    batch = _decoder(client).decode(records)
    assert [e.reason for e in batch.errors] == [R.NON_FINITE] and "é9" in batch.event_ids
    by_id = {r["event_id"]: {**{k: v for k, v in r.items() if k in FEATURES},
                             "age": r["who"]["age"]} for r in rows}
    expected = [by_id[i] for i in batch.event_ids]
    assert [orjson.loads(t) for t in batch.features] == expected
    picked = [len(batch) - 1, 0, batch.event_ids.index("é9"), 7]
    assert [orjson.loads(t) for t in batch.feature_texts(picked)] == [expected[k] for k in picked]
    assert orjson.loads(batch.features[-1]) == expected[-1] and batch.feature_texts([]) == []


def test_an_older_writer_is_read_into_the_latest_reader_schema() -> None:
    client = MockSchemaRegistryClient({"url": "mock://unit"})
    old = _schema([{"name": "gone", "type": "string", "default": ""}])
    new = _schema([{"name": "added", "type": "string", "default": "x"}])
    old_id = client.register_schema("t-value", Schema(orjson.dumps(old).decode(), "AVRO"))
    new_id = client.register_schema("t-value", Schema(orjson.dumps(new).decode(), "AVRO"))
    rows = _rows(4)
    values = [_avro(old_id, old, {**rows[0], "gone": "?"}), _avro(new_id, new, rows[1])]
    batch = _decoder(client).decode([InMemoryRecord("t", 0, i, None, v)
                                     for i, v in enumerate(values)])
    assert batch.event_ids == ["e0", "e1"] and not batch.errors


def test_the_event_id_defaults_to_the_kafka_key_and_missing_features_are_named() -> None:
    fields = FieldMap(["a", "b"], {"b": "x.y"})
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert fields.envelope({"a": 1, "x": {"y": 2}, "event_time": when}, b"key", None, "m") == (
        "key", when, {"a": 1, "b": 2})
    found: Any = fields.envelope({"a": 1}, b"key", 1_700_000_000_000, "m")
    assert found[2] == {"a": 1}
    assert fields.envelope({"a": 1}, None, 1, "m")[0] == R.SCHEMA_VIOLATION
    assert fields.envelope({"model": "other"}, b"k", 1, "m")[0] == R.UNKNOWN_MODEL


@given(st.binary(max_size=12))
def test_the_wire_header_never_raises_anything_but_not_wire_format(value: bytes) -> None:
    try:
        assert 0 <= schema_id(value) < 2**32
    except NotWireFormat:
        assert len(value) < 5 or value[0] != 0


def test_registry_secrets_are_masked_and_auth_is_checked() -> None:
    settings = Settings(schema_registry={"url": "https://sr:8081", "basic_auth_user": "u",
                                         "basic_auth_password": "pw-sr-secret"})
    assert "pw-sr-secret" not in str(masked_dump(settings))
    conf = settings.schema_registry.client_conf()
    assert conf["basic.auth.user.info"] == "u:pw-sr-secret"
    token = SchemaRegistrySettings(url="https://sr", bearer_token="tok-secret-1").client_conf()
    assert token["bearer.auth.token"] == "tok-secret-1"
    assert "tok-secret-1" not in str(masked_dump(Settings(schema_registry={
        "url": "https://sr", "bearer_token": "tok-secret-1"})))
    with pytest.raises(ConfigError, match=r"schema_registry\.url is not set"):
        SchemaRegistrySettings().client_conf()
    with pytest.raises(ValueError, match="choose one way"):
        SchemaRegistrySettings(url="x", basic_auth_user="u", bearer_token="t")
