"""The batch paths of the registry formats (values → columns) against the per-record path.

``RegistryFormat.columns`` must hand back, for every row, what ``RegistryFormat.envelopes``
(fastavro, upb messages, jsonschema, record by record) says: the same event id, event
time and feature values of the same Python types, or the same reject with the same detail.
"""

from __future__ import annotations

import io
import re
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
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streamapp.formats.mapping.fields import EventColumns, millis_times
from streamapp.formats.mapping.topic import RegistryFormat
from streamapp.formats.readers import (
    AvroReader,
    JsonSchemaReader,
    ProtobufReader,
    RecordReader,
    avro_reader,
)
from streamapp.formats.readers.avro_plan import compile_plan
from streamapp.formats.readers.proto_plan import ProtoPlan
from streamapp.formats.resolver import SchemaResolver
from streamapp.metrics.formats import FormatMetrics
from streamapp.schemas import DeadLetterReason as R
from streamapp.settings.formats import FormatSettings
from streamapp.testing.fakes import InMemoryRecord

FEATURES = ["a", "b", "c", "age"]
MAPPED = {"age": "who.age"}
AVRO: dict[str, Any] = {"type": "record", "name": "E", "namespace": "t", "fields": [
    {"name": "event_id", "type": "string"},
    {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "who", "type": {"type": "record", "name": "Who", "fields": [
        {"name": "age", "type": "int"}, {"name": "tag", "type": "bytes"}]}},
    {"name": "a", "type": "double"},
    {"name": "b", "type": ["null", "long"]},
    {"name": "c", "type": "float"},
    {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["X", "Y"]}},
    {"name": "f", "type": {"type": "fixed", "name": "F", "size": 2}},
    {"name": "flag", "type": "boolean"},
]}


def _header(sid: int) -> bytes:
    return b"\x00" + struct.pack(">I", sid)


def _format(reader_of: Any, client: MockSchemaRegistryClient) -> RegistryFormat:
    metrics = FormatMetrics(CollectorRegistry())
    resolver = SchemaResolver(client, metrics)
    reader: RecordReader = reader_of(resolver)
    reader.batch_from = 1  # the batch path even for the few values of a test
    return RegistryFormat(reader, FormatSettings(features=MAPPED), metrics, resolver)


def _typed(value: Any) -> Any:
    """A value with its type, so that 1 and 1.0 differ (and NaN equals NaN)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return type(value).__name__, repr(value)


def _same_as_per_record(fmt: RegistryFormat, values: list[bytes | None],
                        max_bytes: int = 65536, features: list[str] = FEATURES) -> EventColumns:
    """``fmt.columns`` agrees with ``fmt.envelopes`` on every row; returns the columns."""
    records = [InMemoryRecord("t", 0, i, f"k{i}".encode(), v) for i, v in enumerate(values)]
    found = fmt.columns(records, values, "m", features, max_bytes)
    expected = fmt.envelopes(records, values, "m", features)
    got: dict[int, Any] = dict(found.others)
    texts = found.texts()
    for j, i in enumerate(found.rows):
        got[i] = (found.event_ids[j], found.event_dts[j], found.row(j))
        assert orjson.loads(texts[j]) == orjson.loads(orjson.dumps(found.row(j)))
        assert datetime.fromisoformat(found.event_times[j]) == found.event_dts[j]
    assert sorted(got) == list(range(len(values)))
    for i, envelope in enumerate(expected):
        if got[i][0] == R.TOO_LARGE:
            continue
        if len(envelope) == 2:  # fastavro's details name a BytesIO object by its address
            assert _no_address(got[i]) == _no_address(envelope), i
        else:
            assert got[i][:2] == envelope[:2], i
            assert _typed(got[i][2]) == _typed(envelope[2]), i
    return found


def _no_address(reject: Any) -> Any:
    return reject[0], re.sub(r" at 0x[0-9a-f]+", "", reject[1])


def _avro(sid: int, record: dict[str, Any], schema: Any = None) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema or AVRO), record)
    return _header(sid) + out.getvalue()


def _avro_record(i: int, **over: Any) -> dict[str, Any]:
    return {"event_id": f"e{i}", "event_time": 1_700_000_000_000 + i * 1001, "note": None,
            "who": {"age": 30 + i, "tag": b"\xff"}, "a": i / 3, "b": i * 7, "c": 0.5,
            "kind": "Y", "f": b"ab", "flag": True, **over}


AVRO_RECORDS: st.SearchStrategy[dict[str, Any]] = st.builds(
    dict,
    event_id=st.text(max_size=300),
    event_time=st.integers(-2**50, 2**50),
    note=st.none() | st.text(max_size=5),
    who=st.builds(dict, age=st.integers(-2**31, 2**31 - 1), tag=st.binary(max_size=3)),
    a=st.floats(allow_nan=True),
    b=st.none() | st.integers(-2**63, 2**63 - 1),
    c=st.floats(width=32),
    kind=st.sampled_from(["X", "Y"]),
    f=st.binary(min_size=2, max_size=2),
    flag=st.booleans(),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(AVRO_RECORDS, st.integers(0, 400)), min_size=1, max_size=12))
def test_avro_columns_equal_fastavro_record_by_record(rows: list[tuple[dict[str, Any], int]]
                                                      ) -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    sid = client.register_schema("t-value", Schema(orjson.dumps(AVRO).decode(), "AVRO"))
    values: list[bytes | None] = []
    for record, cut in rows:  # cut < 40: the value truncated there (or a bit flipped)
        value = _avro(sid, record)
        if cut < 20:
            value = value[:cut]
        elif cut < 40 and cut < len(value):
            value = value[:cut] + bytes([value[cut] ^ 0x80]) + value[cut + 1:]
        values.append(value)
    _same_as_per_record(_format(lambda r: AvroReader(r, "t-value"), client), values)


def test_avro_bad_rows_keep_their_reasons_and_good_rows_take_the_column_path() -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    sid = client.register_schema("t-value", Schema(orjson.dumps(AVRO).decode(), "AVRO"))
    good = [_avro(sid, _avro_record(i)) for i in range(20)]
    values: list[bytes | None] = [
        *good, b'{"json": 1}', None, _header(999) + b"\x02", good[0][:9],
        _avro(sid, _avro_record(1, b=None)), _avro(sid, _avro_record(2, event_id="")),
        _avro(sid, _avro_record(3, event_id="é")), good[1] + b"x" * 100]
    found = _same_as_per_record(_format(lambda r: AvroReader(r, "t-value"), client), values,
                                max_bytes=120)
    assert found.rows == list(range(20))
    reasons = dict(found.others)
    assert [reasons[i][0] for i in range(20, 26)] == [
        R.NOT_WIRE_FORMAT, R.NOT_WIRE_FORMAT, R.UNKNOWN_SCHEMA, R.UNDECODABLE_PAYLOAD,
        "e1", R.SCHEMA_VIOLATION]  # a null b: its feature is missing (the encoder's reason)
    assert reasons[26][0] == "é"  # a non-ASCII text: record by record, and valid
    assert reasons[27] == (R.TOO_LARGE, f"{len(good[1]) + 100} bytes > "
                                        "scoring.max_event_bytes=120")
    assert found.event_times[0] == datetime.fromtimestamp(1_700_000_000, UTC).isoformat()
    assert isinstance(found.features[0], type(found.features[1]))


def test_an_older_avro_writer_is_read_into_the_reader_by_the_column_path() -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    fields: list[dict[str, Any]] = AVRO["fields"]
    old = {**AVRO, "fields": [  # c: an int, promoted to the reader's float
        *({**f, "type": "int"} if f["name"] == "c" else f for f in fields),
        {"name": "gone", "type": "string"}]}
    new = {**AVRO, "fields": [*AVRO["fields"], {"name": "added", "type": "string",
                                                "default": "x"}]}
    old_id = client.register_schema("t-value", Schema(orjson.dumps(old).decode(), "AVRO"))
    new_id = client.register_schema("t-value", Schema(orjson.dumps(new).decode(), "AVRO"))
    fmt = _format(lambda r: AvroReader(r, "t-value"), client)
    values: list[bytes | None] = [
        *(_avro(old_id, {**_avro_record(i), "c": i, "gone": "?"}, old) for i in range(3)),
        *(_avro(new_id, {**_avro_record(i), "added": "y"}, new) for i in range(3, 6))]
    found = _same_as_per_record(fmt, values)
    assert found.rows == list(range(6))
    assert found.row(0)["c"] == 0.0 and type(found.row(0)["c"]) is float


def test_an_avro_needed_field_from_a_reader_default_is_read_record_by_record() -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    old_fields = [f for f in AVRO["fields"] if f["name"] != "a"]
    old = {**AVRO, "fields": old_fields}
    new_fields = [{**f, "default": 1.5} if f["name"] == "a" else f
                  for f in AVRO["fields"]]
    old_id = client.register_schema("t-value", Schema(orjson.dumps(old).decode(), "AVRO"))
    client.register_schema("t-value", Schema(orjson.dumps({**AVRO, "fields": new_fields}
                                                          ).decode(), "AVRO"))
    record = {k: v for k, v in _avro_record(0).items() if k != "a"}
    found = _same_as_per_record(_format(lambda r: AvroReader(r, "t-value"), client),
                                [_avro(old_id, record, old)])
    envelope: Any = found.others[0][1]
    assert found.rows == [] and envelope[2]["a"] == 1.5


def test_a_plan_that_disagrees_with_fastavro_is_dropped(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    sid = client.register_schema("t-value", Schema(orjson.dumps(AVRO).decode(), "AVRO"))

    def swapped(writer: Any, reader: Any, paths: Any, time_path: Any) -> Any:
        plan = compile_plan(writer, reader, paths, time_path)
        plan.present = plan.present[::-1]  # columns handed to the wrong paths
        return plan

    monkeypatch.setattr(avro_reader, "compile_plan", swapped)
    fmt = _format(lambda r: AvroReader(r, "t-value"), client)
    found = _same_as_per_record(fmt, [_avro(sid, _avro_record(i)) for i in range(4)])
    assert found.rows == [] and len(found.others) == 4
    assert _same_as_per_record(fmt, [_avro(sid, _avro_record(5))]).rows == []


def _protobuf(client: MockSchemaRegistryClient) -> tuple[int, Any]:
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="b.proto", package="b", syntax="proto3")
    msg = file.message_type.add(name="E")  # message index [0]: written as one zero byte
    who = file.message_type.add(name="Who")
    who.field.add(name="age", number=1, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    for number, (name, kind) in enumerate([("event_id", F.TYPE_STRING),
                                           ("event_time", F.TYPE_STRING),
                                           ("a", F.TYPE_DOUBLE), ("b", F.TYPE_INT64),
                                           ("c", F.TYPE_FLOAT)], start=1):
        msg.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
    msg.field.add(name="who", number=6, type=F.TYPE_MESSAGE, type_name=".b.Who",
                  label=F.LABEL_OPTIONAL)
    msg.field.add(name="tags", number=7, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
    import base64

    sid = client.register_schema("p-value", Schema(
        base64.b64encode(file.SerializeToString()).decode(), "PROTOBUF"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return sid, message_factory.GetMessageClass(pool.FindMessageTypeByName("b.E"))


def test_protobuf_columns_equal_the_per_record_path() -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    sid, cls = _protobuf(client)

    def value(i: int, age: bool = True, when: str = "2026-01-02T03:04:05Z") -> bytes:
        msg = cls(event_id=f"e{i}", event_time=when, a=i / 3, b=i, c=0.25, tags=["x"])
        if age:
            msg.who.age = 20 + i
        payload: bytes = msg.SerializeToString()
        return _header(sid) + b"\x00" + payload

    good = [value(i) for i in range(10)]
    values: list[bytes | None] = [
        *good, value(10, age=False), value(11, when="2026-01-02 03:04:05"),
        value(12, when="noon"), _header(sid) + b"\x00\xff", _header(sid) + b"\x02\x02" + b"x",
        _header(sid + 50) + b"\x00", b"plain"]
    found = _same_as_per_record(_format(ProtobufReader, client), values)
    assert found.rows == list(range(10))
    assert found.event_times[0] == "2026-01-02T03:04:05Z"  # canonical: the record's own text
    others: dict[int, Any] = dict(found.others)
    assert others[10][2] == {"a": 10 / 3, "b": 10, "c": 0.25}  # no age: missing_feature later
    assert others[11][0] == others[12][0] == R.SCHEMA_VIOLATION  # no time zone; not a time


def _flat_protobuf(client: MockSchemaRegistryClient) -> tuple[int, Any]:
    """Every scalar kind a plan reads or skips, a nested message and a two-byte tag."""
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="f.proto", package="f", syntax="proto3")
    msg = file.message_type.add(name="E")
    who = file.message_type.add(name="Who")
    who.field.add(name="age", number=1, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    for number, (name, kind) in enumerate([
            ("event_id", F.TYPE_STRING), ("event_time", F.TYPE_INT64), ("a", F.TYPE_DOUBLE),
            ("b", F.TYPE_SINT64), ("c", F.TYPE_FLOAT), ("u", F.TYPE_UINT32),
            ("flag", F.TYPE_BOOL), ("blob", F.TYPE_BYTES)], start=1):
        msg.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
    msg.field.add(name="who", number=9, type=F.TYPE_MESSAGE, type_name=".f.Who",
                  label=F.LABEL_OPTIONAL)
    msg.field.add(name="far", number=300, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    import base64

    sid = client.register_schema("f-value", Schema(
        base64.b64encode(file.SerializeToString()).decode(), "PROTOBUF"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return sid, message_factory.GetMessageClass(pool.FindMessageTypeByName("f.E"))


PROTO_FIELDS = st.fixed_dictionaries({
    "event_id": st.text(max_size=5), "event_time": st.integers(-2**63, 2**63 - 1),
    "a": st.floats(), "b": st.integers(-2**63, 2**63 - 1), "c": st.floats(width=32),
    "u": st.integers(0, 2**32 - 1), "flag": st.booleans(), "blob": st.binary(max_size=3),
    "far": st.integers(-2**63, 2**63 - 1)})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(PROTO_FIELDS, st.none() | st.integers(-2**31, 2**31 - 1),
                          st.integers(0, 200)), min_size=1, max_size=12))
def test_protobuf_plan_columns_equal_upb_record_by_record(
        rows: list[tuple[dict[str, Any], int | None, int]]) -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    sid, cls = _flat_protobuf(client)
    values: list[bytes | None] = []
    for fields, age, cut in rows:  # cut < 50: broken (truncated, a byte flipped, doubled…)
        msg = cls(**{k: v for k, v in fields.items() if cut % 7 or k != "a"})
        if age is not None:
            msg.who.age = age
        payload: bytes = msg.SerializeToString()
        if cut < 10:
            payload = payload[:cut]
        elif cut < 20 and cut - 10 < len(payload):
            payload = payload[:cut - 10] + bytes([payload[cut - 10] ^ 0x80]) + payload[cut - 9:]
        elif cut < 30:
            payload += b"\xa8\x06\x01"  # field 101 (unknown), varint 1
        elif cut < 40:
            payload += payload  # every field twice: the last one wins
        elif cut < 50:
            payload = b"\x3a\x00" + payload  # bytes field 7 first: out of order
        values.append(_header(sid) + b"\x00" + payload)
    fmt = _format(ProtobufReader, client)
    features = ["a", "b", "c", "u", "far", "age"]
    found = _same_as_per_record(fmt, values, features=features)
    assert fmt.reader._plans, "the plan was compiled"  # type: ignore[attr-defined]
    assert all(p is not None for p in fmt.reader._plans.values())  # type: ignore[attr-defined]
    assert len(found.rows) <= len(values)


def test_the_protobuf_plan_reads_clean_messages_itself() -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    sid, cls = _flat_protobuf(client)
    messages = [cls(event_id=f"e{i}", event_time=1_700_000_000_000 + i, a=i / 7, b=-i,
                    c=0.25, u=i, far=2**40 + i) for i in range(6)]
    messages[0].who.age = 3  # the others: no who, so no age (the per-record path)
    for m in messages[1:3]:
        m.who.SetInParent()  # an empty who: age is its default, 0
    values = [_header(sid) + b"\x00" + m.SerializeToString() for m in messages]
    plan = ProtoPlan(cls.DESCRIPTOR, [("event_id",), ("b",), ("who", "age"), ("far",), ("z",)])
    starts = np.cumsum([0] + [len(v) for v in values[:-1]]) + 6
    ok, columns = plan.decode(b"".join(values), starts, starts - 6 + [len(v) for v in values])
    assert ok.tolist() == [True, True, True, False, False, False]
    assert columns[0] == ["e0", "e1", "e2"] and columns[4] is None
    numbers: list[Any] = columns[1:4]
    assert [c.tolist() for c in numbers] == [[0, -1, -2], [3, 0, 0], [2**40, 2**40 + 1,
                                                                      2**40 + 2]]


JSON_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
    "required": ["event_id", "who"],
    "properties": {"event_id": {"type": "string"}, "a": {"type": "number"},
                   "b": {"type": ["integer", "null"]}, "c": {"type": "number"},
                   "who": {"type": "object", "properties": {"age": {"type": "integer"}},
                           "additionalProperties": False}},
}


@pytest.mark.parametrize("schema", [JSON_SCHEMA, {**JSON_SCHEMA, "minProperties": 1}],
                         ids=["plan", "no plan"])
def test_json_schema_columns_equal_the_per_record_path(schema: dict[str, Any]) -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    sid = client.register_schema("j-value", Schema(orjson.dumps(schema).decode(), "JSON"))

    def value(i: int, **over: Any) -> bytes:
        record = {"event_id": f"e{i}", "event_time": 1_700_000_000_000 + i, "a": i, "b": 2,
                  "c": 0.5, "who": {"age": i}, **over}
        return _header(sid) + orjson.dumps({k: v for k, v in record.items() if v != "-"})

    values: list[bytes | None] = [
        *(value(i) for i in range(8)), value(8, a=True), value(9, who={"age": "old"}),
        value(10, who={"age": 3, "x": 1}), value(11, b=None), value(12, b=2.0),
        value(13, event_time="-"), value(14, extra=[1]), value(15, who="-"),
        _header(sid) + b"{", _header(sid) + b"[1]", value(16, a="\n")]
    found = _same_as_per_record(_format(JsonSchemaReader, client), values)
    assert set(found.rows) == (set(range(8)) | {14} if schema is JSON_SCHEMA else set())
    others: dict[int, Any] = dict(found.others)
    assert others[9][0] == R.SCHEMA_MISMATCH and "who/age" in others[9][1]
    assert others[12][2]["b"] == 2.0  # an integer written as 2.0: valid, per record


def test_a_batch_too_small_for_the_column_path_is_read_record_by_record() -> None:
    client = MockSchemaRegistryClient({"url": "mock://batch"})
    sid = client.register_schema("t-value", Schema(orjson.dumps(AVRO).decode(), "AVRO"))
    fmt = _format(lambda r: AvroReader(r, "t-value"), client)
    fmt.reader.batch_from = 3
    values: list[bytes | None] = [_avro(sid, _avro_record(i)) for i in range(3)]
    assert _same_as_per_record(fmt, values[:2]).rows == []
    assert _same_as_per_record(fmt, values).rows == [0, 1, 2]


def test_millis_render_as_isoformat() -> None:
    millis = [0, 1, 999, 1_000, 1_700_000_000_123, -1, 7_999_999_999_999]
    dts, texts = millis_times(np.array(millis))
    for m, dt, text in zip(millis, dts, texts, strict=True):
        assert dt == datetime.fromtimestamp(m / 1000, UTC)
        assert text == dt.isoformat()
