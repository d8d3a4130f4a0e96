"""Prediction records for a whole model call, rendered in one vectorised pass.

The fields are exactly those of :class:`~streamapp.schemas.Prediction` (and
:class:`~streamapp.schemas.LoggedPrediction` with ``features``), in that order.
Per batch: the constant fields (model, version, variant, scored time) are
rendered once into a ``bytes`` template; event ids, event times, scores and
values are serialised with one ``orjson`` call per column and split; each record
is then one ``%`` format. Strings that JSON escapes (a backslash appears) fall
back to one ``orjson`` call per value, so the output is always valid JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from streamapp.runtime.base import FloatMatrix
from streamapp.scoring.columns import JsonText

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_BOOL = (b"false", b"true")


def json_strings(values: Sequence[str]) -> list[bytes]:
    """The JSON text of each string, quotes included, from one ``orjson`` call.

    >>> json_strings(["a", 'b"c'])
    [b'"a"', b'"b\\\\"c"']
    """
    if not values:
        return []
    raw = orjson.dumps(list(values))
    if b"\\" in raw:
        return [orjson.dumps(v) for v in values]
    return [b'"' + part + b'"' for part in raw[2:-2].split(b'","')]


def json_rows(matrix: FloatMatrix) -> list[bytes]:
    """The JSON array text of each row of a finite float matrix.

    >>> json_rows(np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32))
    [b'[0.25,0.75]', b'[1.0,0.0]']
    """
    if not len(matrix):
        return []
    raw = orjson.dumps(np.ascontiguousarray(matrix), option=_NUMPY)
    return [b"[" + part + b"]" for part in raw[2:-2].split(b"],[")]


def json_numbers(vector: np.ndarray[Any, Any]) -> list[bytes]:
    """The JSON text of each element of a finite float vector.

    >>> json_numbers(np.array([0.5, 2.0], dtype=np.float32))
    [b'0.5', b'2.0']
    """
    if not len(vector):
        return []
    return orjson.dumps(np.ascontiguousarray(vector), option=_NUMPY)[1:-1].split(b",")


def template(name: str, version: str, variant: str, scored_time: str, classes: bool) -> bytes:
    """The ``%`` template of one prediction with the per-batch constants rendered.

    Slots: event id, scores, predicted label, predicted value, holdout, event time.
    """
    def const(value: str) -> bytes:
        return orjson.dumps(value).replace(b"%", b"%%")

    return (
        b'{"event_id":%s,"model_name":' + const(name)
        + b',"model_version":' + const(version) + b',"variant":' + const(variant)
        + b',"scores":%s,"predicted_label":%s,"predicted_value":%s,"holdout":%s'
        + b',"event_time":%s,"scored_time":' + const(scored_time) + b"}"
    )


def predictions(
    tmpl: bytes,
    ids: list[bytes],
    times: list[bytes],
    outputs: FloatMatrix,
    classes: list[Any] | None,
    holdout: list[bool],
) -> list[bytes]:
    """One JSON prediction per row: ``ids``/``times``/``holdout`` aligned with ``outputs``."""
    n = len(ids)
    flags = [_BOOL[h] for h in holdout]
    if classes:
        names = [orjson.dumps(c) for c in classes]
        labels = [names[k] for k in outputs.argmax(axis=1).tolist()]
        scores = json_rows(outputs)
        return [tmpl % row for row in zip(ids, scores, labels, [b"null"] * n, flags, times,
                                          strict=True)]
    values = json_numbers(outputs[:, 0])
    nulls = [b"null"] * n
    return [tmpl % row for row in zip(ids, nulls, nulls, values, flags, times, strict=True)]


def with_features(record: bytes, features: JsonText) -> bytes:
    """A prediction record extended with its features' JSON text (the logged-prediction shape).

    >>> with_features(b'{"a":1}', b'{"x": 2}')
    b'{"a":1,"features":{"x": 2}}'
    """
    return record[:-1] + b',"features":' + features + b"}"
