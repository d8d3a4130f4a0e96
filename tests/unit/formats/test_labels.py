"""Label records in a registry format without a broker: field mapping and the batch reader
over confluent-kafka's in-memory registry client."""

from __future__ import annotations

import base64
import doctest
import io
import struct
from datetime import UTC, datetime
from typing import Any

import fastavro
import orjson
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streamapp.formats.mapping import labels as labels_module
from streamapp.formats.mapping.labels import LabelFields, LabelFormat
from streamapp.formats.mapping.topic import RegistryFormat
from streamapp.formats.readers import AvroReader, JsonSchemaReader, ProtobufReader
from streamapp.formats.resolver import SchemaResolver
from streamapp.metrics.formats import FormatMetrics
from streamapp.schemas import DeadLetterReason as R
from streamapp.settings.formats import FormatSettings

WHEN = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
LABEL_SCHEMA = {"type": "record", "name": "Truth", "fields": [
    {"name": "id", "type": ["null", "string"], "default": None},
    {"name": "outcome", "type": {"type": "record", "name": "Outcome",
                                 "fields": [{"name": "cls", "type": ["int", "string"]}]}},
    {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
     "default": None},
]}


def _avro(sid: int, record: dict[str, Any], schema: dict[str, Any] = LABEL_SCHEMA) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return b"\x00" + struct.pack(">I", sid) + out.getvalue()


def _time(result: tuple[Any, ...]) -> datetime:
    """The label time of a read label (fails on a reject)."""
    assert len(result) == 3, result
    when = result[2]
    assert isinstance(when, datetime)
    return when


def test_the_doctests_pass() -> None:
    assert doctest.testmod(labels_module).failed == 0


def test_fields_read_mapped_paths_and_fall_back_to_the_key_and_the_record_timestamp() -> None:
    fields = LabelFields("id", "outcome.cls", "at")
    stamp = int(WHEN.timestamp() * 1000)
    assert fields.read({"id": "e1", "outcome": {"cls": 1}, "at": WHEN}, b"k", None) == (
        "e1", 1, WHEN)
    assert fields.read({"id": None, "outcome": {"cls": "yes"}}, b"k", stamp) == ("k", "yes", WHEN)
    assert _time(fields.read({"outcome": {"cls": 1}, "at": "2026-12-07T08:00:00Z"}, b"k",
                             None)) == WHEN
    assert _time(fields.read({"outcome": {"cls": 1},
                              "at": Timestamp(seconds=int(WHEN.timestamp()))}, b"k", None)) == WHEN


def test_every_bad_field_has_its_reason() -> None:
    fields = LabelFields()
    good = {"event_id": "e", "label": 1, "label_time": WHEN}
    cases = [
        ({**good, "event_id": None}, None, R.SCHEMA_VIOLATION),  # no id, no key
        ({**good, "event_id": "x" * 257}, b"k", R.SCHEMA_VIOLATION),
        ({"event_id": "e", "label_time": WHEN}, b"k", R.SCHEMA_VIOLATION),
        ({**good, "label": b"\x01"}, b"k", R.WRONG_TYPE),
        ({**good, "label": [1]}, b"k", R.WRONG_TYPE),
        ({**good, "label": float("nan")}, b"k", R.NON_FINITE),
        ({**good, "label_time": "2026-12-07T08:00:00"}, b"k", R.SCHEMA_VIOLATION),  # naive
        ({**good, "label_time": "soon"}, b"k", R.SCHEMA_VIOLATION),
        ({**good, "label_time": {"seconds": 1}}, b"k", R.SCHEMA_VIOLATION),
    ]
    assert fields.read(good, None, None) == ("e", 1, WHEN)
    for record, key, reason in cases:
        assert fields.read(record, key, 1)[0] == reason, record
    # a Timestamp message reads as a time; no time field and no record timestamp: none
    assert _time(fields.read({**good, "label_time": Timestamp()}, b"k", 1)).year == 1970
    assert fields.read({"event_id": "e", "label": 1}, b"k", None)[0] == R.SCHEMA_VIOLATION


def test_a_batch_decodes_and_counts_every_result() -> None:
    client = MockSchemaRegistryClient({"url": "mock://labels"})
    sid = client.register_schema("labels-value",
                                 Schema(orjson.dumps(LABEL_SCHEMA).decode(), "AVRO"))
    prometheus = CollectorRegistry()
    metrics = FormatMetrics(prometheus)
    resolver = SchemaResolver(client, metrics)
    settings = FormatSettings(labels="avro", label_id_field="id", label_field="outcome.cls",
                              label_time_field="at")
    fmt = LabelFormat(RegistryFormat(AvroReader(resolver, "labels-value"), settings, metrics,
                                     resolver), LabelFields("id", "outcome.cls", "at"))
    good = [_avro(sid, {"id": f"e{i}", "outcome": {"cls": i % 2}, "at": WHEN}) for i in range(5)]
    values = [*good, b'{"event_id": "e"}', b"\x00" + struct.pack(">I", 10**6) + b"\x02",
              good[0][:6], _avro(sid, {"id": None, "outcome": {"cls": 1}, "at": None})]
    out = fmt.read(values, [b"k"] * len(values), [None] * len(values))
    assert out[:5] == [(f"e{i}", i % 2, WHEN) for i in range(5)]
    assert [o[0] for o in out[5:]] == [R.NOT_WIRE_FORMAT, R.UNKNOWN_SCHEMA,
                                      R.UNDECODABLE_PAYLOAD, R.SCHEMA_VIOLATION]

    def count(result: str) -> float:
        return prometheus.get_sample_value("streamapp_format_records_total",
                                           {"format": "avro", "result": result}) or 0.0

    assert count("ok") == 5 and count("not_wire_format") == 1 and count("unknown_schema") == 1
    assert count("schema_violation") == 1


def _protobuf_with_timestamp(client: MockSchemaRegistryClient) -> tuple[int, Any]:
    """A ``Truth`` message whose label time is a ``google.protobuf.Timestamp``."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

    file = descriptor_pb2.FileDescriptorProto(name="truth.proto", package="t", syntax="proto3",
                                              dependency=["google/protobuf/timestamp.proto"])
    msg = file.message_type.add(name="Truth")
    F = descriptor_pb2.FieldDescriptorProto
    msg.field.add(name="event_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    msg.field.add(name="label", number=2, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    msg.field.add(name="label_time", number=3, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                  type_name=".google.protobuf.Timestamp")
    sid = client.register_schema("truth-value", Schema(
        base64.b64encode(file.SerializeToString()).decode(), "PROTOBUF"))
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    return sid, message_factory.GetMessageClass(pool.FindMessageTypeByName("t.Truth"))


def _format(reader: Any, resolver: SchemaResolver, metrics: FormatMetrics) -> LabelFormat:
    return LabelFormat(RegistryFormat(reader, FormatSettings(), metrics, resolver), LabelFields())


def test_protobuf_and_json_schema_labels_read_with_the_default_fields() -> None:
    client = MockSchemaRegistryClient({"url": "mock://formats"})
    metrics = FormatMetrics(CollectorRegistry())
    resolver = SchemaResolver(client, metrics)
    sid, cls = _protobuf_with_timestamp(client)
    msg = cls(event_id="p1", label=2.5)
    msg.label_time.FromDatetime(WHEN)
    unset = cls(event_id="p2", label=1.0)  # no time: the record timestamp
    proto = _format(ProtobufReader(resolver), resolver, metrics)
    values = [b"\x00" + struct.pack(">I", sid) + b"\x00" + m.SerializeToString()
              for m in (msg, unset)]
    stamp = int(WHEN.timestamp() * 1000)
    assert proto.read(values, [None, None], [None, stamp]) == [("p1", 2.5, WHEN),
                                                               ("p2", 1.0, WHEN)]
    schema = {"type": "object", "required": ["label"],
              "properties": {"event_id": {"type": "string"}, "label": {"type": "string"}}}
    jid = client.register_schema("js-value", Schema(orjson.dumps(schema).decode(), "JSON"))
    js = _format(JsonSchemaReader(resolver), resolver, metrics)
    header = b"\x00" + struct.pack(">I", jid)
    out = js.read([header + b'{"event_id": "j1", "label": "cat"}', header + b'{"label": 3}'],
                  [None, b"j2"], [stamp, stamp])
    assert out[0] == ("j1", "cat", WHEN)
    assert out[1][0] == R.SCHEMA_MISMATCH  # the JSON Schema says the label is text


# The batch path (reader columns) against the per-record path, row by row.

MS = int(WHEN.timestamp() * 1000)
BATCH_AVRO: dict[str, Any] = {"type": "record", "name": "L", "fields": [
    {"name": "event_id", "type": ["null", "string"], "default": None},
    {"name": "label", "type": ["null", "double"], "default": None},
    {"name": "label_time", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
     "default": None},
]}


def _typed_label(result: Any) -> Any:
    """A result with each part's type (1 and 1.0 differ, NaN is NaN, the tzinfo counts)."""
    return [(type(v).__name__, repr(v), getattr(v, "tzinfo", None)) for v in result]


def _batch_and_records(reader_of: Any, client: MockSchemaRegistryClient
                       ) -> tuple[LabelFormat, LabelFormat, CollectorRegistry, CollectorRegistry]:
    """The same labels format twice: through the batch path, and record by record."""
    formats, proms = [], []
    for batch_from in (1, 10**9):
        prometheus = CollectorRegistry()
        metrics = FormatMetrics(prometheus)
        resolver = SchemaResolver(client, metrics)
        reader = reader_of(resolver)
        reader.batch_from = batch_from
        formats.append(LabelFormat(RegistryFormat(reader, FormatSettings(), metrics, resolver),
                                   LabelFields()))
        proms.append(prometheus)
    return formats[0], formats[1], proms[0], proms[1]


def _counts(prometheus: CollectorRegistry) -> dict[str, float]:
    return {s.labels["result"]: s.value for m in prometheus.collect() for s in m.samples
            if s.name == "streamapp_format_records_total"}


def _same_either_way(reader_of: Any, client: MockSchemaRegistryClient,
                     values: list[bytes | None], keys: list[bytes | None],
                     stamps: list[int | None]) -> list[Any]:
    """Both paths give every row the same result (type, detail, counts); returns them,
    and checks the batch path built some rows from the columns itself."""
    batch, records, batch_prom, records_prom = _batch_and_records(reader_of, client)
    per_record_calls: list[int] = []
    read = batch.fields.read

    def counted(record: Any, key: bytes | None, stamp: int | None) -> Any:
        per_record_calls.append(1)
        return read(record, key, stamp)

    batch.fields.read = counted  # type: ignore[method-assign]
    got = batch.read(values, keys, stamps)
    expected = records.read(values, keys, stamps)
    assert len(got) == len(expected) == len(values)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert _typed_label(g) == _typed_label(e), (i, values[i], g, e)
    assert _counts(batch_prom) == _counts(records_prom)
    good = sum(len(r) == 3 for r in expected)
    if good:
        assert len(per_record_calls) < len(values), "the batch path read no row from columns"
    return got


def _mixed_avro_rows(sid: int) -> tuple[list[bytes | None], list[bytes | None],
                                        list[int | None]]:
    """Good rows between every kind of row the batch path must leave to the per-record one."""
    rows: list[tuple[dict[str, Any] | bytes | None, bytes | None, int | None]] = [
        ({"event_id": "e1", "label": 1.5, "label_time": WHEN}, None, None),
        ({"event_id": None, "label": 0.0, "label_time": WHEN}, b"from-key", None),
        ({"event_id": None, "label": 1.0, "label_time": WHEN}, None, MS),  # no id, no key
        ({"event_id": None, "label": 1.0, "label_time": WHEN}, b"\xff\xfe", MS),  # not UTF-8
        ({"event_id": "", "label": 1.0, "label_time": WHEN}, b"k", MS),
        ({"event_id": "x" * 257, "label": 1.0, "label_time": WHEN}, b"k", MS),
        ({"event_id": "x" * 256, "label": 2.0, "label_time": WHEN}, b"k", MS),
        ({"event_id": "é-1", "label": 1.0, "label_time": WHEN}, b"k", MS),  # non-ASCII
        ({"event_id": "e2", "label": None, "label_time": WHEN}, b"k", MS),  # no label
        ({"event_id": "e3", "label": float("nan"), "label_time": WHEN}, b"k", MS),
        ({"event_id": "e4", "label": float("inf"), "label_time": WHEN}, b"k", MS),
        ({"event_id": "e5", "label": -0.0, "label_time": None}, b"k", MS),  # record time
        ({"event_id": "e6", "label": 1.0, "label_time": None}, b"k", None),  # no time at all
        ({"event_id": "e7", "label": 1.0, "label_time": None}, b"k", 0),
        ({"event_id": "e8", "label": 1.0,
          "label_time": datetime(9000, 1, 1, tzinfo=UTC)}, b"k", MS),  # past MILLIS
        ({"event_id": "e9", "label": 1.0,
          "label_time": datetime(1900, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)}, b"k", MS),
        (b'{"event_id": "e"}', b"k", MS),  # not the wire format
        (b"\x00" + struct.pack(">I", 10**6) + b"\x02", b"k", MS),  # unknown schema
        (None, b"k", MS),  # a tombstone
    ]
    values: list[bytes | None] = []
    for record, _key, _stamp in rows:
        values.append(_avro(sid, record, BATCH_AVRO) if isinstance(record, dict) else record)
    values.append(values[0][:7])  # type: ignore[index]  # truncated
    keys = [k for _r, k, _s in rows] + [b"k"]
    stamps = [s for _r, _k, s in rows] + [MS]
    return values, keys, stamps


def test_the_avro_batch_path_reads_every_row_as_the_per_record_path() -> None:
    client = MockSchemaRegistryClient({"url": "mock://labels-batch"})
    sid = client.register_schema("labels-value",
                                 Schema(orjson.dumps(BATCH_AVRO).decode(), "AVRO"))
    values, keys, stamps = _mixed_avro_rows(sid)
    got = _same_either_way(lambda r: AvroReader(r, "labels-value"), client, values, keys,
                           stamps)
    assert got[0] == ("e1", 1.5, WHEN) and got[1] == ("from-key", 0.0, WHEN)
    assert [g[0] for g in got[8:11]] == [R.SCHEMA_VIOLATION, R.NON_FINITE, R.NON_FINITE]


def test_avro_text_and_epoch_times_int_labels_and_absent_fields() -> None:
    client = MockSchemaRegistryClient({"url": "mock://labels-batch-2"})
    texts = {"type": "record", "name": "T", "fields": [
        {"name": "event_id", "type": "string"}, {"name": "label", "type": "string"},
        {"name": "label_time", "type": "string"}]}
    sid = client.register_schema("labels-value", Schema(orjson.dumps(texts).decode(), "AVRO"))
    times = ["2026-12-07T08:00:00Z", "2026-12-07T10:00:00.123+02:00", "2026-12-07T08:00:00",
             "soon", "", "2026-12-07 08:00:00+00:00", "2026-12-07T08:00:00.5Z"]
    values: list[bytes | None] = [
        _avro(sid, {"event_id": f"t{i}", "label": "cat", "label_time": t}, texts)
        for i, t in enumerate(times)]
    _same_either_way(lambda r: AvroReader(r, "labels-value"), client, values,
                     [b"k"] * len(values), [MS] * len(values))

    client = MockSchemaRegistryClient({"url": "mock://labels-batch-3"})
    epoch = {"type": "record", "name": "N", "fields": [  # no event_id: the Kafka key
        {"name": "label", "type": "long"}, {"name": "label_time", "type": "long"}]}
    sid = client.register_schema("labels-value", Schema(orjson.dumps(epoch).decode(), "AVRO"))
    millis = [MS, 0, -1, MS + 1, 8_000_000_000_001, -8_000_000_000_001, 2**62]
    values = [_avro(sid, {"label": i - 2, "label_time": m}, epoch) for i, m in enumerate(millis)]
    keys: list[bytes | None] = [b"k1", None, b"k3", b"", b"k5", b"k6", b"k7"]
    got = _same_either_way(lambda r: AvroReader(r, "labels-value"), client, values, keys,
                           [MS] * len(values))
    assert got[0] == ("k1", -2, WHEN) and got[1][0] == R.SCHEMA_VIOLATION

    client = MockSchemaRegistryClient({"url": "mock://labels-batch-4"})
    unlabelled = {"type": "record", "name": "U", "fields": [  # no label field at all
        {"name": "event_id", "type": "string"}]}
    sid = client.register_schema("labels-value",
                                 Schema(orjson.dumps(unlabelled).decode(), "AVRO"))
    values = [_avro(sid, {"event_id": f"u{i}"}, unlabelled) for i in range(3)]
    got = _same_either_way(lambda r: AvroReader(r, "labels-value"), client, values,
                           [b"k"] * 3, [MS] * 3)
    assert {g[0] for g in got} == {R.SCHEMA_VIOLATION}

    client = MockSchemaRegistryClient({"url": "mock://labels-batch-5"})
    untimed = {"type": "record", "name": "V", "fields": [  # no time: the record timestamp
        {"name": "event_id", "type": "string"}, {"name": "label", "type": "int"}]}
    sid = client.register_schema("labels-value", Schema(orjson.dumps(untimed).decode(), "AVRO"))
    values = [_avro(sid, {"event_id": f"v{i}", "label": i}, untimed) for i in range(5)]
    got = _same_either_way(lambda r: AvroReader(r, "labels-value"), client, values,
                           [b"k"] * 5, [MS, 0, None, -1, 9_000_000_000_000])
    assert got[0] == ("v0", 0, WHEN) and got[1][0] == got[2][0] == R.SCHEMA_VIOLATION


def test_label_columns_leave_every_doubtful_value_to_the_per_record_path() -> None:
    labels = [1, 2**63, -2**63, float("inf"), float("nan"), "a", True, b"x", [1], 0.5]
    n = len(labels)
    found, read, other = LabelFields().columns(list(range(n)), [["e"] * n, labels, None],
                                               [None] * n, [MS] * n)
    assert found == [0, 2, 5, 6, 9] and other == [1, 3, 4, 7, 8]
    assert [type(label[1]) for label in read] == [int, int, str, bool, float]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(
    st.none() | st.text(max_size=4) | st.text(min_size=255, max_size=258),
    st.none() | st.floats(),
    st.none() | st.integers(-9_000_000_000_000, 9_000_000_000_000),
    st.none() | st.binary(max_size=3),
    st.none() | st.integers(-1, 2 * MS)), min_size=1, max_size=30))
def test_avro_batch_path_equals_the_per_record_path_for_any_rows(
        rows: list[tuple[str | None, float | None, int | None, bytes | None, int | None]]
) -> None:
    client = MockSchemaRegistryClient({"url": "mock://labels-hypothesis"})
    sid = client.register_schema("labels-value",
                                 Schema(orjson.dumps(BATCH_AVRO).decode(), "AVRO"))
    plain = {**BATCH_AVRO, "fields": [*BATCH_AVRO["fields"][:2], {
        "name": "label_time", "type": ["null", "long"], "default": None}]}  # epoch ms, same ids
    parsed = fastavro.parse_schema(plain)
    values: list[bytes | None] = []
    for event_id, label, when, _key, _stamp in rows:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, {"event_id": event_id, "label": label,
                                                 "label_time": when})
        values.append(b"\x00" + struct.pack(">I", sid) + out.getvalue())
    batch, records, batch_prom, records_prom = _batch_and_records(
        lambda r: AvroReader(r, "labels-value"), client)
    keys, stamps = [r[3] for r in rows], [r[4] for r in rows]
    got, expected = batch.read(values, keys, stamps), records.read(values, keys, stamps)
    assert [_typed_label(g) for g in got] == [_typed_label(e) for e in expected]
    assert _counts(batch_prom) == _counts(records_prom)


def _label_protobuf(client: MockSchemaRegistryClient, syntax: str, label: int,
                    time: int) -> tuple[int, Any]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    name = f"l{syntax}{label}{time}"
    file = descriptor_pb2.FileDescriptorProto(name=f"{name}.proto", package=name, syntax=syntax)
    msg = file.message_type.add(name="L")
    for number, (field, kind) in enumerate([("event_id", F.TYPE_STRING), ("label", label),
                                            ("label_time", time)], start=1):
        msg.field.add(name=field, number=number, type=kind, label=F.LABEL_OPTIONAL)
    sid = client.register_schema(f"{name}-value", Schema(
        base64.b64encode(file.SerializeToString()).decode(), "PROTOBUF"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return sid, message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{name}.L"))


def test_the_protobuf_batch_path_reads_every_row_as_the_per_record_path() -> None:
    from google.protobuf.descriptor_pb2 import FieldDescriptorProto as F

    client = MockSchemaRegistryClient({"url": "mock://labels-proto"})
    cases = [("proto3", F.TYPE_INT64, F.TYPE_STRING), ("proto2", F.TYPE_DOUBLE, F.TYPE_INT64),
             ("proto3", F.TYPE_BOOL, F.TYPE_INT64), ("proto3", F.TYPE_STRING, F.TYPE_STRING)]
    samples = {F.TYPE_INT64: [1, 0, -7], F.TYPE_DOUBLE: [1.5, float("nan"), 0.0],
               F.TYPE_BOOL: [True, False, True], F.TYPE_STRING: ["cat", "", "é"]}
    time_samples = {F.TYPE_INT64: [MS, 0, 9_000_000_000_000],
                    F.TYPE_STRING: ["2026-12-07T08:00:00Z", "", "2026-12-07T08:00:00"]}
    for syntax, label, when in cases:
        sid, cls = _label_protobuf(client, syntax, label, when)
        first = time_samples[when][0]
        messages = [cls(event_id="p0", label=samples[label][0], label_time=first),
                    cls(label=samples[label][0], label_time=first),  # no id
                    cls(event_id="p2", label_time=first),  # no label
                    cls(event_id="p3", label=samples[label][1]),  # no time
                    cls(event_id="p4", label=samples[label][2],
                        label_time=time_samples[when][1]),
                    cls(event_id="p5", label=samples[label][0],
                        label_time=time_samples[when][2])]
        values: list[bytes | None] = [b"\x00" + struct.pack(">I", sid) + b"\x00"
                                      + m.SerializeToString() for m in messages * 2]
        keys: list[bytes | None] = [b"k", b"key", None, b"k", b"k", b"k"] * 2
        stamps: list[int | None] = [MS, MS, MS, MS, None, MS] * 2
        got = _same_either_way(ProtobufReader, client, values, keys, stamps)
        # proto3: an unset id reads as "" (not missing), so the key is not used
        assert got[1][0] == ("key" if syntax == "proto2" else R.SCHEMA_VIOLATION), syntax


def test_the_json_schema_batch_path_reads_every_row_as_the_per_record_path() -> None:
    client = MockSchemaRegistryClient({"url": "mock://labels-json"})
    schema = {"type": "object", "required": ["label"], "properties": {
        "event_id": {"type": ["string", "integer", "null"]},
        "label": {"type": ["number", "string", "boolean", "null"]},
        "label_time": {"type": ["string", "integer", "number", "boolean"]}}}
    sid = client.register_schema("lj-value", Schema(orjson.dumps(schema).decode(), "JSON"))
    header = b"\x00" + struct.pack(">I", sid)
    payloads = [
        '{"event_id": "j1", "label": 1, "label_time": "2026-12-07T08:00:00Z"}',
        '{"event_id": "j2", "label": 1.0, "label_time": 1796630400000}',
        '{"label": "cat", "label_time": "2026-12-07T09:00:00+01:00"}',  # the key
        '{"event_id": 7, "label": true}',  # an id that is not text
        '{"event_id": "j5", "label": null}',  # no label
        '{"event_id": "j6", "label": 123456789012345678901234, "label_time": 1}',  # a float
        '{"event_id": "j7", "label": 1, "label_time": 1.5}',
        '{"event_id": "j8", "label": 1, "label_time": true}',
        '{"event_id": "j9", "label": 1, "label_time": "2026-12-07T08:00:00"}',
        '{"event_id": "", "label": 1}',
        '{"event_id": "j11", "label": false, "label_time": -5}',
        '{"event_id": "j12", "label": "x", "label_time": 99999999999999999}',
        '{"event_id": "j13", "label": [1]}',  # refused by the schema
        'not json',
    ]
    values: list[bytes | None] = [header + p.encode() for p in payloads]
    keys: list[bytes | None] = [b"k"] * len(values)
    got = _same_either_way(JsonSchemaReader, client, values, keys, [MS] * len(values))
    assert got[0] == ("j1", 1, WHEN) and got[2] == ("k", "cat", WHEN)
    assert got[5][1] == 123456789012345678901234.0


def test_two_settings_naming_one_path_read_record_by_record() -> None:
    fields = LabelFields("label", "label", "label_time")
    assert len(set(fields.paths)) == 2
    client = MockSchemaRegistryClient({"url": "mock://labels-same"})
    sid = client.register_schema("labels-value",
                                 Schema(orjson.dumps(BATCH_AVRO).decode(), "AVRO"))
    metrics = FormatMetrics(CollectorRegistry())
    resolver = SchemaResolver(client, metrics)
    reader = AvroReader(resolver, "labels-value")
    reader.batch_from = 1
    fmt = LabelFormat(RegistryFormat(reader, FormatSettings(), metrics, resolver), fields)
    value = _avro(sid, {"event_id": "e", "label": 1.0, "label_time": WHEN}, BATCH_AVRO)
    assert fmt.read([value], [b"k"], [MS]) == [
        (R.SCHEMA_VIOLATION, "no event id: neither the field 'label' nor the key")]
