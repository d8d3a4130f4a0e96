"""JSON payloads validated against their registered JSON Schema: record by record with
``jsonschema``, or a batch at once by one typed decode (:mod:`.json_plan`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonschema
import msgspec
import orjson
from confluent_kafka.schema_registry import Schema

from streamapp.formats.mapping.fields import vouched
from streamapp.formats.readers import json_plan
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
)
from streamapp.formats.readers.wire_batch import NoPlan
from streamapp.formats.resolver import SchemaResolver, UnknownSchema
from streamapp.formats.wire import HEADER


class JsonSchemaReader:
    """JSON payloads validated against their registered JSON Schema."""

    name = "json_schema"
    batch_from = 2  # one typed decode: fewer values go record by record

    def __init__(self, resolver: SchemaResolver) -> None:
        self.resolver = resolver
        self._plans: dict[tuple[int, tuple[tuple[str, ...], ...]], json_plan.JsonPlan | None] = {}

    @staticmethod
    def _validator(schema: Schema, _sid: int) -> Any:
        check_type(schema, "JSON")
        document = orjson.loads(schema.schema_str or "{}")
        return jsonschema.validators.validator_for(document)(document)

    def read(self, values: Sequence[bytes | None]) -> list[Decoded]:
        out: list[Decoded] = []
        for value in values:
            sid = header(value)
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

    def columns(self, values: Sequence[bytes | None], paths: Sequence[Sequence[str]],
                time_path: Sequence[str]) -> Columns:
        """Each schema id's rows validated and read by one typed decode of the batch
        (:mod:`.json_plan`); ids without a plan and refused rows go record by record."""
        groups, rest = headers(Joined.of(values))
        found = []
        for sid, rows in groups.items():
            plan = self._plan(sid, paths)
            if plan is None:
                rest.extend(rows)
                continue
            structs, typed = _structs(plan, [values[i] for i in rows])  # type: ignore[misc]
            ok, columns = json_plan.columns(plan, structs)
            good = [rows[j] for j, k in zip(typed, ok, strict=True) if k]
            rest.extend(sorted(set(rows).difference(good)) if len(good) < len(rows) else ())
            found.append((good, vouched(columns, ok)))
        found = [g for g in found if g[0]]
        return merge(found, rest) if found else ([], [None] * len(paths), sorted(rest))

    def _plan(self, sid: int, paths: Sequence[Sequence[str]]) -> json_plan.JsonPlan | None:
        key = (sid, tuple(map(tuple, paths)))
        if key not in self._plans:
            try:
                schema = self.resolver.build("json_schema", sid, self._validator).schema
                self._plans[key] = json_plan.JsonPlan(schema, paths)
            except (UnknownSchema, WrongSchemaType, NoPlan):
                self._plans[key] = None
        return self._plans[key]


def _structs(plan: json_plan.JsonPlan, values: list[bytes]) -> tuple[list[Any], list[int]]:
    """The values' payloads the plan's struct accepts, and their positions in ``values``."""
    payloads = [value[HEADER:] for value in values]
    joined = b"\n".join(payloads)
    if joined.count(b"\n") == len(payloads) - 1:
        try:
            return plan.decoder.decode_lines(joined), list(range(len(values)))
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
    structs, typed = [], []
    for j, payload in enumerate(payloads):
        try:
            structs.append(plan.decoder.decode(payload))
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        typed.append(j)
    return structs, typed
