"""Wire-format values → records (dicts or Protobuf messages), one reader per format.

Each reader turns a batch of values into, per value, the decoded record or a
``(reason, detail)`` reject. Schemas come from the :class:`~.resolver.SchemaResolver`
(once per id). Avro payloads are read by fastavro's schemaless reader from the writer
schema into the subject's latest (reader) schema, so an older compatible writer decodes
(fields added with a default are filled, removed fields dropped).
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from typing import Any, Protocol

import fastavro
import jsonschema
import orjson
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.protobuf import _init_pool  # the well-known types
from fastavro.read import SchemaResolutionError
from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message

from streamapp.formats.resolver import SchemaResolver, UnknownSchema
from streamapp.formats.wire import HEADER, NotWireFormat, message_indexes, schema_id
from streamapp.schemas import DeadLetterReason

R = DeadLetterReason
Reject = tuple[DeadLetterReason, str]
Decoded = Any | Reject
"""A record (a dict, or a Protobuf message) or a reject."""


class WrongSchemaType(ValueError):
    """The id names a schema of another format than the topic's (reason ``schema_mismatch``)."""


class RecordReader(Protocol):
    """Decodes one topic format; never raises for bad input."""

    name: str

    def read(self, values: Sequence[bytes | None]) -> list[Decoded]: ...


def _check_type(schema: Schema, expected: str) -> None:
    found = (schema.schema_type or "AVRO").upper()
    if found != expected:
        raise WrongSchemaType(f"schema is {found}, the topic's format is {expected}")


def _header(value: bytes | None) -> int | Reject:
    try:
        return schema_id(value)
    except NotWireFormat as exc:
        return R.NOT_WIRE_FORMAT, str(exc)


class AvroReader:
    """Avro records through fastavro's schemaless reader, writer → reader schema."""

    name = "avro"

    def __init__(self, resolver: SchemaResolver, subject: str | None) -> None:
        self.resolver = resolver
        self.subject = subject
        self._reader_id: int | None = None
        self._reader: Any = None

    def _pair(self, schema: Schema, _sid: int) -> tuple[Any, Any]:
        _check_type(schema, "AVRO")
        writer = fastavro.parse_schema(orjson.loads(schema.schema_str or "null"))
        return writer, (self._reader if self._reader is not None else writer)

    def _refresh_reader(self) -> None:
        """An unseen writer id: the subject's latest version may be new, so look again."""
        if self.subject is None:
            return
        latest = self.resolver.latest(self.subject)
        if latest is None or latest.schema_id == self._reader_id:
            return
        if (latest.schema.schema_type or "AVRO").upper() != "AVRO":
            return
        self._reader_id = latest.schema_id
        self._reader = fastavro.parse_schema(orjson.loads(latest.schema.schema_str or "null"))
        self.resolver.forget(self.name)  # re-pair every writer with the new reader

    def read(self, values: Sequence[bytes | None]) -> list[Decoded]:
        out: list[Decoded] = []
        reader = fastavro.schemaless_reader
        pairs: dict[int, tuple[Any, Any] | Reject] = {}
        for value in values:
            sid = _header(value)
            if type(sid) is tuple:
                out.append(sid)
                continue
            assert isinstance(sid, int) and value is not None
            pair = pairs.get(sid)
            if pair is None:
                pair = pairs[sid] = self._resolve(sid)
            if len(pair) == 2 and isinstance(pair[0], DeadLetterReason):
                out.append(pair)
                continue
            try:
                record = reader(io.BytesIO(value[HEADER:]), pair[0], pair[1])
            except SchemaResolutionError as exc:
                out.append((R.SCHEMA_MISMATCH, f"schema id {sid}: {exc}"[:500]))
                continue
            except Exception as exc:  # truncated or corrupt payload: fastavro raises many kinds
                out.append((R.UNDECODABLE_PAYLOAD,
                            f"schema id {sid}: {type(exc).__name__}: {exc}"[:500]))
                continue
            if not isinstance(record, dict):
                out.append((R.SCHEMA_MISMATCH, f"schema id {sid}: the schema is not a record"))
                continue
            out.append(record)
        return out

    def _resolve(self, sid: int) -> tuple[Any, Any] | Reject:
        if not self.resolver.has("avro", sid):
            self._refresh_reader()
        try:
            return self.resolver.build("avro", sid, self._pair)
        except UnknownSchema as exc:
            return R.UNKNOWN_SCHEMA, f"schema id {sid} is not in the registry ({exc})"
        except WrongSchemaType as exc:
            return R.SCHEMA_MISMATCH, f"schema id {sid}: {exc}"
        except Exception as exc:  # an unparsable schema text
            return R.SCHEMA_MISMATCH, f"schema id {sid}: {type(exc).__name__}: {exc}"[:500]


class ProtobufReader:
    """Protobuf messages of the registered file descriptor (no generated code needed)."""

    name = "protobuf"

    def __init__(self, resolver: SchemaResolver) -> None:
        self.resolver = resolver

    def _file(self, schema: Schema, sid: int) -> Any:
        """The file descriptor of a Protobuf schema: the registry may hold it serialized
        (base64, as confluent-kafka's serializer registers it) or as ``.proto`` text, which
        a Confluent registry serializes when asked (``format=serialized``)."""
        _check_type(schema, "PROTOBUF")
        proto = descriptor_pb2.FileDescriptorProto()
        try:
            proto.ParseFromString(base64.b64decode(schema.schema_str or "", validate=True))
        except (binascii.Error, ValueError, DecodeError):
            serialized = self.resolver.schema(sid, fmt="serialized")
            proto.ParseFromString(base64.b64decode(serialized.schema_str or ""))
        pool = DescriptorPool()
        _init_pool(pool)
        return pool.Add(proto)

    def read(self, values: Sequence[bytes | None]) -> list[Decoded]:
        out: list[Decoded] = []
        for value in values:
            sid = _header(value)
            if type(sid) is tuple:
                out.append(sid)
                continue
            assert isinstance(sid, int) and value is not None
            try:
                path, start = message_indexes(value)
                fd = self.resolver.build("protobuf", sid, self._file)
                desc = fd.message_types_by_name[list(fd.message_types_by_name)[path[0]]]
                for index in path[1:]:
                    desc = desc.nested_types[index]
                msg: Message = message_factory.GetMessageClass(desc)()
                msg.ParseFromString(value[start:])
            except UnknownSchema as exc:
                out.append((R.UNKNOWN_SCHEMA, f"schema id {sid} is not in the registry ({exc})"))
            except (WrongSchemaType, IndexError) as exc:
                out.append((R.SCHEMA_MISMATCH, f"schema id {sid}: {exc}"[:500]))
            except (DecodeError, ValueError) as exc:
                out.append((R.UNDECODABLE_PAYLOAD, f"schema id {sid}: {exc}"[:500]))
            else:
                out.append(msg)
        return out


class JsonSchemaReader:
    """JSON payloads validated against their registered JSON Schema."""

    name = "json_schema"

    def __init__(self, resolver: SchemaResolver) -> None:
        self.resolver = resolver

    @staticmethod
    def _validator(schema: Schema, _sid: int) -> Any:
        _check_type(schema, "JSON")
        document = orjson.loads(schema.schema_str or "{}")
        return jsonschema.validators.validator_for(document)(document)

    def read(self, values: Sequence[bytes | None]) -> list[Decoded]:
        out: list[Decoded] = []
        for value in values:
            sid = _header(value)
            if type(sid) is tuple:
                out.append(sid)
                continue
            assert isinstance(sid, int) and value is not None
            try:
                validator = self.resolver.build("json_schema", sid, self._validator)
                record = orjson.loads(value[HEADER:])
            except UnknownSchema as exc:
                out.append((R.UNKNOWN_SCHEMA, f"schema id {sid} is not in the registry ({exc})"))
                continue
            except WrongSchemaType as exc:
                out.append((R.SCHEMA_MISMATCH, f"schema id {sid}: {exc}"))
                continue
            except orjson.JSONDecodeError as exc:
                out.append((R.UNDECODABLE_PAYLOAD, f"schema id {sid}: invalid JSON: {exc}"))
                continue
            error = jsonschema.exceptions.best_match(validator.iter_errors(record))
            if error is not None:
                where = "/".join(map(str, error.absolute_path)) or "(root)"
                out.append((R.SCHEMA_MISMATCH, f"schema id {sid}: {where}: {error.message}"[:500]))
            elif not isinstance(record, dict):
                out.append((R.SCHEMA_MISMATCH, f"schema id {sid}: the record is not an object"))
            else:
                out.append(record)
        return out
