"""The pure parts of the CLI's registry formats: schema → features, the tail decoder without
(or without a reachable) registry, the encoder's error paths, and the doctests."""

from __future__ import annotations

import doctest
import json
import socket
import time
from collections.abc import Iterator
from types import ModuleType

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from streamapp.config import ConfigError
from streamapp.formats import configured, peek, schema_features
from streamapp.formats.peek import NO_REGISTRY, Peek
from streamapp.formats.schema_features import SchemaFeatureError, SchemaField, schema_fields
from streamapp.formats.writers import serialize
from streamapp.formats.writers.serialize import (
    RecordMismatch,
    RegistryUnreachable,
    ValueEncoder,
    value_encoder,
)
from streamapp.ingest.check import CheckReport
from streamapp.ingest.encode import encoded
from streamapp.settings.formats import SchemaRegistrySettings

WIRE = b"\x00\x00\x00\x00\x07\x02a"


@pytest.mark.parametrize("module", [configured, peek, schema_features, serialize])
def test_doctests(module: ModuleType) -> None:
    outcome = doctest.testmod(module)
    assert outcome.attempted > 0 and outcome.failed == 0


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback URL where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


def test_avro_fields_walk_nested_records_enums_and_named_types() -> None:
    schema = {"type": "record", "name": "E", "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "home", "type": {"type": "record", "name": "Addr",
                                  "fields": [{"name": "zip", "type": "string"}]}},
        {"name": "work", "type": ["null", "Addr"]},
        {"name": "tier", "type": {"type": "enum", "name": "T", "symbols": ["a", "b"]}},
        {"name": "old_tier", "type": "T"},
        {"name": "ok", "type": "boolean"}, {"name": "n", "type": "long"},
        {"name": "either", "type": ["int", "string"]}, {"name": "blob", "type": "bytes"},
    ]}
    fields, skipped = schema_fields("AVRO", json.dumps(schema), ["event_id", "event_time"])
    assert fields == [
        SchemaField("home.zip", "categorical"), SchemaField("work.zip", "categorical"),
        SchemaField("tier", "categorical", ("a", "b")),
        SchemaField("old_tier", "categorical", ("a", "b")),
        SchemaField("ok", "boolean", (False, True)), SchemaField("n", "numeric"),
    ]
    assert skipped == ["either (union)", "blob (bytes)"]


def test_json_schema_fields() -> None:
    schema = {"type": "object", "properties": {
        "event_id": {"type": "string"}, "x": {"type": ["number", "null"]},
        "c": {"type": "string", "enum": ["u", "v"]}, "when": {"type": "string",
                                                            "format": "date-time"},
        "inner": {"type": "object", "properties": {"flag": {"type": "boolean"}}},
        "list": {"type": "array"},
    }}
    fields, skipped = schema_fields("JSON", json.dumps(schema), ["event_id"])
    assert fields == [SchemaField("x", "numeric"), SchemaField("c", "categorical", ("u", "v")),
                      SchemaField("inner.flag", "boolean", (False, True))]
    assert skipped == ["when (date-time)", "list (array)"]


@pytest.mark.parametrize(("kind", "text"), [
    ("AVRO", '"string"'), ("JSON", '{"type": "string"}'), ("PROTOBUF", "{}"),
])
def test_a_schema_without_fields_is_an_error(kind: str, text: str) -> None:
    with pytest.raises(SchemaFeatureError):
        schema_fields(kind, text)


def test_tail_leaves_plain_json_alone_and_says_why_it_cannot_decode() -> None:
    assert Peek(None, "json").decode(b'{"a": 1}') is None
    shown = Peek(None, "avro").decode(b'{"a": 1}')
    assert shown is not None and shown.record is None
    assert shown.reason is not None and shown.reason.startswith("not_wire_format: no magic byte")
    shown = Peek(None, "json").decode(WIRE)
    assert shown is not None and shown.reason == f"schema id 7: {NO_REGISTRY}"
    tomb = Peek(None, "avro").decode(None)
    assert tomb is not None and "tombstone" in (tomb.reason or "")


def test_tail_shows_an_unreachable_registry_as_a_reason_without_waiting(closed_url: str) -> None:
    decoder = Peek(SchemaRegistryClient({"url": closed_url, "max.retries": 0}), "avro")
    start = time.monotonic()
    shown = decoder.decode(WIRE)
    assert shown is not None and shown.label == "undecodable"
    assert shown.reason == "registry_unreachable: schema id 7 could not be fetched"
    assert time.monotonic() - start < 5


def test_the_encoder_needs_a_registry_url_and_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="STREAMAPP_SCHEMA_REGISTRY__URL"):
        value_encoder("avro", "t", SchemaRegistrySettings())
    with pytest.raises(ValueError, match="not a registry format"):
        value_encoder("json", "t", SchemaRegistrySettings(url="http://x"))


def test_an_unreachable_registry_fails_before_any_record(closed_url: str) -> None:
    with pytest.raises(RegistryUnreachable, match="schema registry unreachable"):
        value_encoder("avro", "t", SchemaRegistrySettings(url=closed_url))


def test_records_that_do_not_fit_are_counted_and_the_rest_sent() -> None:
    def write(record: dict[str, object]) -> bytes:
        if not isinstance(record.get("x"), float):
            raise ValueError(f"{record.get('x')!r} on field x is not a double")
        return b"\x00ok"

    encoder = ValueEncoder("avro", "t-value", 1, 1, write)
    report = CheckReport()
    records = [(b"a", {"x": 1.0}), (b"b", {"x": "no"}), (b"c", [1]), (b"d", {"x": 2.0})]
    assert list(encoded(records, encoder, report)) == [(b"a", b"\x00ok"), (b"d", b"\x00ok")]
    assert (report.checked, report.rejected) == (4, 2)
    assert report.examples["schema_mismatch"] == (2, "'no' on field x is not a double")
    with pytest.raises(RecordMismatch, match="a list, not an object"):
        encoder.encode([1])


def test_the_record_message_is_the_one_no_other_message_holds() -> None:
    from google.protobuf import descriptor_pb2, descriptor_pool

    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="root_test.proto", package="rt")
    file.message_type.add(name="Inner").field.add(name="a", number=1, type=f.TYPE_INT32)
    outer = file.message_type.add(name="Outer")
    outer.field.add(name="inner", number=1, type=f.TYPE_MESSAGE, type_name=".rt.Inner")
    pool = descriptor_pool.DescriptorPool()
    messages = list(pool.Add(file).message_types_by_name.values())
    assert serialize.root_message(messages).name == "Outer"
    assert serialize.root_message(messages[:1]).name == "Inner"


def test_avro_timestamps_given_as_text_are_written_as_times() -> None:
    from datetime import UTC, datetime

    schema = json.dumps({"type": "record", "name": "E", "fields": [
        {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}}]})
    to_dict = serialize._avro_dict(schema)
    assert to_dict({"t": "2026-12-07T08:00:00Z"}, None) == {
        "t": datetime(2026, 12, 7, 8, tzinfo=UTC)}
    with pytest.raises(RecordMismatch, match="'t': 'soon' is not an RFC 3339 time"):
        to_dict({"t": "soon"}, None)
