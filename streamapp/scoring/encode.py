"""Prediction records for a whole model call, rendered in one vectorised pass.

The fields are exactly those of :class:`~streamapp.schemas.Prediction` (and
:class:`~streamapp.schemas.LoggedPrediction` with ``features``), in that order.
Per batch: the constant fields (model, version, variant, scored time) are
rendered once into a ``bytes`` template (with the quotes and brackets around
the per-event slots); event ids, event times, scores and values are serialised
with one ``orjson`` call per column and split; labels and holdout flags are
picked by numpy from their few rendered values; each record is then one ``%``
format. Strings that JSON escapes (a backslash appears) fall
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
_FLAGS = np.array([b"false", b"true"], dtype=object)


def json_bodies(values: Sequence[str]) -> list[bytes]:
    """The JSON text of each string without its quotes, from one ``orjson`` call.

    >>> json_bodies(["a", 'b"c', ""])
    [b'a', b'b\\\\"c', b'']
    """
    if not values:
        return []
    raw = orjson.dumps(list(values))
    if b"\\" in raw:
        return [orjson.dumps(v)[1:-1] for v in values]
    return raw[2:-2].split(b'","')


def json_rows(matrix: FloatMatrix) -> list[bytes]:
    """The JSON text of each row of a finite float matrix, without its brackets.

    >>> json_rows(np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32))
    [b'0.25,0.75', b'1.0,0.0']
    """
    if not len(matrix):
        return []
    return orjson.dumps(np.ascontiguousarray(matrix), option=_NUMPY)[2:-2].split(b"],[")


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

    Slots: event id (quoted by the template), then scores (bracketed by the
    template) and predicted label with ``classes``, else the predicted value;
    then holdout and event time (quoted by the template).
    """
    def const(value: str) -> bytes:
        return orjson.dumps(value).replace(b"%", b"%%")

    outputs = (b'"scores":[%s],"predicted_label":%s,"predicted_value":null' if classes
               else b'"scores":null,"predicted_label":null,"predicted_value":%s')
    return (
        b'{"event_id":"%s","model_name":' + const(name)
        + b',"model_version":' + const(version) + b',"variant":' + const(variant)
        + b"," + outputs + b',"holdout":%s'
        + b',"event_time":"%s","scored_time":' + const(scored_time) + b"}"
    )


def predictions(
    tmpl: bytes,
    ids: list[bytes],
    times: list[bytes],
    outputs: FloatMatrix,
    classes: list[Any] | None,
    holdout: np.ndarray[Any, np.dtype[np.bool_]],
) -> list[bytes]:
    """One JSON prediction per row: ``ids`` / ``times`` (:func:`json_bodies`) and ``holdout``
    aligned with ``outputs``; labels and flags picked by numpy, each record one ``%``."""
    flags = _FLAGS[holdout.astype(np.intp)].tolist()
    if classes:
        names = np.array([orjson.dumps(c) for c in classes], dtype=object)
        labels = names[outputs.argmax(axis=1)].tolist()
        return [tmpl % row for row in zip(ids, json_rows(outputs), labels, flags, times,
                                          strict=True)]
    return [tmpl % row for row in zip(ids, json_numbers(outputs[:, 0]), flags, times,
                                      strict=True)]


def with_inputs(record: bytes, inputs: JsonText) -> bytes:
    """A logged prediction extended with its raw features (``sampling.log_inputs``).

    >>> with_inputs(b'{"a":1}', b'{"x": [2]}')
    b'{"a":1,"inputs":{"x": [2]}}'
    """
    return record[:-1] + b',"inputs":' + inputs + b"}"


def with_features(record: bytes, features: JsonText) -> bytes:
    """A prediction record extended with its features' JSON text (the logged-prediction shape).

    >>> with_features(b'{"a":1}', b'{"x": 2}')
    b'{"a":1,"features":{"x": 2}}'
    """
    return record[:-1] + b',"features":' + features + b"}"
