"""Protobuf messages of the registered file descriptor (no generated code needed), and
whole batches straight into columns (:mod:`.proto_plan`), the rest parsed by upb."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from operator import attrgetter, methodcaller
from typing import Any

import numpy as np
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.protobuf import _init_pool  # the well-known types
from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message

from streamapp.formats.mapping.fields import Column, repeated, vouched
from streamapp.formats.readers.batch import (
    Columns,
    Decoded,
    Joined,
    R,
    WrongSchemaType,
    check_type,
    header,
    headers,
    merge,
    same_value,
)
from streamapp.formats.readers.proto_plan import ProtoPlan
from streamapp.formats.readers.wire_batch import NoPlan
from streamapp.formats.resolver import SchemaResolver, UnknownSchema
from streamapp.formats.wire import HEADER, message_indexes


class ProtobufReader:
    """Protobuf messages of the registered file descriptor (no generated code needed)."""

    name = "protobuf"
    batch_from = 24  # ~0.2 ms of numpy steps per batch: fewer values go record by record

    def __init__(self, resolver: SchemaResolver) -> None:
        self.resolver = resolver
        self._classes: dict[tuple[int, tuple[int, ...]], type[Message]] = {}
        self._plans: dict[tuple[int, tuple[tuple[str, ...], ...]], ProtoPlan | None] = {}
        self._checked: set[tuple[int, tuple[tuple[str, ...], ...]]] = set()

    def _file(self, schema: Schema, sid: int) -> Any:
        """The file descriptor of a Protobuf schema: the registry may hold it serialized
        (base64, as confluent-kafka's serializer registers it) or as ``.proto`` text, which
        a Confluent registry serializes when asked (``format=serialized``)."""
        check_type(schema, "PROTOBUF")
        proto = descriptor_pb2.FileDescriptorProto()
        try:
            proto.ParseFromString(base64.b64decode(schema.schema_str or "", validate=True))
        except (binascii.Error, ValueError, DecodeError):
            serialized = self.resolver.schema(sid, fmt="serialized")
            proto.ParseFromString(base64.b64decode(serialized.schema_str or ""))
        pool = DescriptorPool()
        _init_pool(pool)
        return pool.Add(proto)

    def _class(self, sid: int, path: tuple[int, ...]) -> type[Message]:
        """The message class at ``path`` in schema ``sid``'s file, built once."""
        key = (sid, path)
        found = self._classes.get(key)
        if found is None:
            fd = self.resolver.build("protobuf", sid, self._file)
            desc = fd.message_types_by_name[list(fd.message_types_by_name)[path[0]]]
            for index in path[1:]:
                desc = desc.nested_types[index]
            found = self._classes[key] = message_factory.GetMessageClass(desc)
        return found

    def _messages(self, values: Sequence[bytes | None]) -> list[Decoded]:
        """Per value its message or reject, each message's class kept by (schema id, path)."""
        out: list[Decoded] = []
        for value in values:
            sid = header(value)
            if type(sid) is tuple:
                out.append(sid)
                continue
            assert isinstance(sid, int) and value is not None
            try:
                path: tuple[int, ...] = (0,)
                start = HEADER + 1
                if value[HEADER:HEADER + 1] != b"\x00":  # not the common [0] (one zero byte)
                    indexes, start = message_indexes(value)
                    path = tuple(indexes)
                out.append(self._class(sid, path).FromString(value[start:]))
            except UnknownSchema as exc:
                out.append((R.UNKNOWN_SCHEMA, f"schema id {sid} is not in the registry ({exc})"))
            except (WrongSchemaType, IndexError) as exc:
                out.append((R.SCHEMA_MISMATCH, f"schema id {sid}: {exc}"[:500]))
            except (DecodeError, ValueError) as exc:
                out.append((R.UNDECODABLE_PAYLOAD, f"schema id {sid}: {exc}"[:500]))
        return out

    def read(self, values: Sequence[bytes | None]) -> list[Decoded]:
        return self._messages(values)

    def columns(self, values: Sequence[bytes | None], paths: Sequence[Sequence[str]],
                time_path: Sequence[str]) -> Columns:
        """The rows of each schema id whose message is the file's first type: decoded
        straight into columns (:mod:`.proto_plan`), the rows that plan leaves parsed by upb
        in one C-level pass and read by one call per message; other message types and
        rows upb refuses go record by record."""
        batch = Joined.of(values)
        groups, rest = headers(batch)
        first = batch.byte(HEADER) == 0  # message indexes [0]: one zero byte
        found: list[tuple[list[int], list[Column | None]]] = []
        for sid, rows in groups.items():
            index = np.asarray(rows, np.int64)
            typed = index[first[index]].tolist()
            rest.extend(index[~first[index]].tolist())
            try:
                parse = self._class(sid, (0,)).FromString
            except (UnknownSchema, WrongSchemaType, IndexError, DecodeError, ValueError):
                rest.extend(typed)  # record by record, with the reason
                continue
            plan = self._plan(sid, paths)
            if plan is not None and typed:
                index = np.asarray(typed, np.int64)
                ok, columns = plan.decode(batch.buf, batch.starts[index] + HEADER + 1,
                                          batch.ends[index])
                good = index[ok].tolist()
                if not good or self._agrees(sid, parse, values[good[0]], paths, columns):
                    found.append((good, columns))
                    typed = index[~ok].tolist()
            if typed:
                group, bad = _parsed_columns(parse, [values[i] for i in typed], typed, paths)
                found.append(group)
                rest.extend(bad)
        found = [g for g in found if g[0]]
        return merge(found, rest) if found else ([], [None] * len(paths), sorted(rest))

    def _plan(self, sid: int, paths: Sequence[Sequence[str]]) -> ProtoPlan | None:
        key = (sid, tuple(map(tuple, paths)))
        if key not in self._plans:
            try:
                self._plans[key] = ProtoPlan(self._class(sid, (0,)).DESCRIPTOR, paths)
            except NoPlan:
                self._plans[key] = None
        return self._plans[key]

    def _agrees(self, sid: int, parse: Callable[[bytes], Message], value: bytes | None,
                paths: Sequence[Sequence[str]], columns: list[Column | None]) -> bool:
        """First use of a plan: its first row equals upb's message, or the rows of this
        schema id are parsed by upb from now on."""
        key = (sid, tuple(map(tuple, paths)))
        if key in self._checked:
            return True
        self._checked.add(key)
        assert value is not None
        ok, expected = _message_columns([parse(value[HEADER + 1:])], paths)
        same = ok == [True] and all(
            c is None if e is None else c is not None and same_value(e[0], c[0])
            for e, c in zip(expected, columns, strict=True))
        if not same:
            self._plans[key] = None
        return same


def _parsed_columns(parse: Callable[[bytes], Message], values: list[bytes | None],
                    rows: list[int], paths: Sequence[Sequence[str]]
                    ) -> tuple[tuple[list[int], list[Column | None]], list[int]]:
    """Messages parsed by upb in one pass (one by one when one fails), read by
    :func:`_message_columns`: ``((rows vouched for, columns), the other rows)``."""
    payloads: list[bytes] = [v[HEADER + 1:] for v in values]  # type: ignore[index]
    rest: list[int] = []
    try:
        messages = list(map(parse, payloads))
    except DecodeError:  # one bad payload: the others parsed one by one
        parsed = [_parsed(parse, p) for p in payloads]
        rest = [i for i, m in zip(rows, parsed, strict=True) if m is None]
        rows = [i for i, m in zip(rows, parsed, strict=True) if m is not None]
        messages = [m for m in parsed if m is not None]
    if not messages:
        return ([], []), rest
    ok, columns = _message_columns(messages, paths)
    rest.extend(i for i, k in zip(rows, ok, strict=True) if not k)
    return ([i for i, k in zip(rows, ok, strict=True) if k], columns), rest


def _parsed(parse: Callable[[bytes], Message], payload: bytes) -> Message | None:
    try:
        return parse(payload)
    except DecodeError:
        return None


_NUMPY_TYPES = {FieldDescriptor.CPPTYPE_DOUBLE: np.float64, FieldDescriptor.CPPTYPE_FLOAT:
                np.float64, FieldDescriptor.CPPTYPE_INT32: np.int64,
                FieldDescriptor.CPPTYPE_INT64: np.int64, FieldDescriptor.CPPTYPE_UINT32: np.int64,
                FieldDescriptor.CPPTYPE_ENUM: np.int64}
"""Protobuf scalars whose Python values a numpy column holds exactly (not uint64, bool)."""
_MessagePath = tuple[str, list[tuple[str, str]], Any]


def _message_path(desc: Any, path: Sequence[str]) -> _MessagePath | None:
    """The dotted attribute of ``path`` in messages of ``desc``, the ``(parent, field)``
    presence checks on the way and the numpy type of its values (None: a list); None when
    no such message holds it. :class:`LookupError` where only :func:`lookup` reads it (a
    repeated field, a whole message)."""
    node, checks, kind = desc, [], None
    for depth, part in enumerate(path):
        field = node.fields_by_name.get(part) if node is not None else None
        if field is None:
            return None
        if repeated(field):
            raise LookupError(part)
        if field.has_presence:
            checks.append((".".join(path[:depth]), part))
        node, kind = field.message_type, _NUMPY_TYPES.get(field.cpp_type)
    if node is not None:
        raise LookupError(path[-1])
    return ".".join(path), checks, kind


def _message_columns(messages: list[Any], paths: Sequence[Sequence[str]]
                     ) -> tuple[list[bool], list[Column | None]]:
    """Messages of one type → ``(rows vouched for, columns)``, as :func:`lookup` reads them:
    one C-level call per message for every path, one per presence check."""
    try:
        found = [_message_path(messages[0].DESCRIPTOR, p) for p in paths]
    except LookupError:
        return [False] * len(messages), [None] * len(paths)
    ok = [True] * len(messages)
    for parent, part in dict.fromkeys(c for f in found if f is not None for c in f[1]):
        owners = map(attrgetter(parent), messages) if parent else messages
        ok = [a and b for a, b in zip(ok, map(methodcaller("HasField", part), owners),
                                      strict=True)]
    attrs = [f[0] for f in found if f is not None]
    if not attrs:
        return ok, [None] * len(paths)
    rows = list(map(attrgetter(*attrs), messages))
    values = iter(zip(*rows, strict=True) if len(attrs) > 1 else [rows])
    columns: list[Column | None] = [
        None if f is None else list(next(values)) if f[2] is None else
        np.fromiter(next(values), f[2], len(messages)) for f in found]
    return ok, vouched(columns, ok)
