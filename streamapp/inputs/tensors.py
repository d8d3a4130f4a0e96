"""Decode the ``features`` objects of a tensor model's events into a :class:`FeatureBatch`.

A ``tensor`` value is JSON nested arrays (cast to the manifest's dtype) or a base64
string of its little-endian bytes; ``text`` is a string of at most ``max_length``
characters; ``bytes`` is base64 of at most ``max_length`` bytes. Scalar features
go through :class:`~streamapp.features.FeatureEncoder`, the training code path.

Fast path: one typed ``msgspec`` decode of the newline-joined objects (base64
decoded in C), then per tensor feature one ``np.array`` (nested arrays) or one
``np.frombuffer`` of the joined bytes, with shape, dtype, finiteness and range
checked by numpy. Any row the fast path cannot vouch for is decoded alone by
:meth:`TensorEncoder.encode_row`, which names its dead-letter reason. Never raises
for bad values.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from streamapp.features import FeatureEncoder, FeatureError
from streamapp.inputs.batch import FeatureBatch, FeatureColumn
from streamapp.registry.manifest import FeatureSpec, Manifest
from streamapp.schemas import DeadLetterReason

R = DeadLetterReason
TensorEncoded = tuple[FeatureBatch, list[int], list[tuple[int, FeatureError]]]
"""``(batch, input row of each batch row, (input row, error) of each reject)``."""
_DICT: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(dict[str, Any])
_ELEMENT: dict[str, type] = {"f": float, "i": int, "u": int, "b": bool}


def _json_type(spec: FeatureSpec) -> Any:
    """The ``msgspec`` type of one feature's JSON value."""
    if spec.type == "text":
        return str
    if spec.type == "bytes":
        return bytes
    if spec.type == "tensor":
        nested: Any = _ELEMENT[np.dtype(spec.dtype).kind]
        for _ in spec.shape or ():
            nested = list[nested]
        return nested | bytes
    return Any


class TensorEncoder:
    """Decodes the features of one tensor model's manifest (all kinds, scalars included)."""

    def __init__(self, manifest: Manifest) -> None:
        self.specs = list(manifest.features)
        self.names = [s.name for s in self.specs]
        self.scalar = FeatureEncoder(manifest.scalar_features)
        self._scalar_names = [s.name for s in manifest.scalar_features]
        self._known = frozenset(self.names)
        fields = [(f"f{i}", _json_type(s)) for i, s in enumerate(self.specs)]
        struct = msgspec.defstruct(
            "TensorFeatures", fields, rename={f"f{i}": n for i, n in enumerate(self.names)},
            forbid_unknown_fields=True, gc=False,
        )
        self._typed: msgspec.json.Decoder[Any] = msgspec.json.Decoder(struct)
        self._get = [attrgetter(f"f{i}") for i in range(len(self.specs))]

    def encode(self, raws: Sequence[bytes | msgspec.Raw]) -> TensorEncoded | None:
        """Decode the JSON texts ``raws`` (no newlines); None if one is not a JSON object."""
        joined = b"\n".join(raws)
        try:
            structs = self._typed.decode_lines(joined)
        except (msgspec.DecodeError, msgspec.ValidationError):
            try:
                dicts = _DICT.decode_lines(joined)
            except (msgspec.DecodeError, msgspec.ValidationError):
                return None
            if len(dicts) != len(raws):
                return None
            return self.encode_dicts(dicts)
        return self._from_values([[g(s) for g in self._get] for s in structs])

    def encode_dicts(self, rows: Sequence[Mapping[str, Any]]) -> TensorEncoded:
        """Decode already parsed ``features`` objects (the per-record path)."""
        values: list[list[Any] | FeatureError] = []
        for row in rows:
            try:
                values.append(self._checked_values(row))
            except FeatureError as exc:
                values.append(exc)
        return self._from_values(values)

    def _from_values(self, values: Sequence[list[Any] | FeatureError]) -> TensorEncoded:
        """Rows of raw values in manifest order (or the error already found) → the batch."""
        bad: dict[int, FeatureError] = {
            i: v for i, v in enumerate(values) if isinstance(v, FeatureError)
        }
        good = [i for i in range(len(values)) if i not in bad]
        rows: list[list[Any]] = [values[i] for i in good]  # type: ignore[misc]
        columns: dict[str, FeatureColumn] = {}
        keep = np.ones(len(rows), dtype=bool)
        for pos, spec in enumerate(self.specs):
            if spec.is_scalar:
                continue
            column, errors = self._column(spec, [r[pos] for r in rows])
            columns[spec.name] = column
            for j, exc in errors.items():
                if keep[j]:
                    keep[j] = False
                    bad[good[j]] = exc
        scalar_rows = [{n: r[p] for p, n in self._scalar_pos()} for r in rows]
        matrix, order, errs = self.scalar.encode_batch(scalar_rows)
        for j, exc in errs:
            if keep[j]:
                keep[j] = False
                bad[good[j]] = exc
        final = [j for j in order if keep[j]]
        if final == list(range(len(rows))) and order == final:
            batch = FeatureBatch(matrix, columns)
        else:  # the scalar matrix is in ``order``; pick both in ``final``'s order
            position = {j: k for k, j in enumerate(order)}
            picked = FeatureBatch(np.empty((len(rows), 0), np.float32), columns)[final]
            batch = FeatureBatch(matrix[[position[j] for j in final]], picked.columns)
        return batch, [good[j] for j in final], sorted(bad.items())

    def _scalar_pos(self) -> list[tuple[int, str]]:
        return [(p, s.name) for p, s in enumerate(self.specs) if s.is_scalar]

    def _checked_values(self, row: Mapping[str, Any]) -> list[Any]:
        """One event's values in manifest order; raises :class:`FeatureError` for a missing
        or unknown feature, or a value of the wrong JSON type."""
        out: list[Any] = []
        for spec in self.specs:
            value = row.get(spec.name)
            if value is None:
                raise FeatureError(R.MISSING_FEATURE, f"feature {spec.name!r} is missing")
            if spec.type == "tensor" and isinstance(value, str):
                value = _base64(spec, value)
            elif spec.type == "bytes":
                if not isinstance(value, str):
                    raise FeatureError(R.WRONG_TYPE, f"feature {spec.name!r}: expected base64 "
                                       f"text, got {type(value).__name__}")
                value = _base64(spec, value)
            elif spec.type == "text" and not isinstance(value, str):
                raise FeatureError(R.WRONG_TYPE, f"feature {spec.name!r}: expected a string, "
                                   f"got {type(value).__name__}")
            elif spec.type == "tensor" and not isinstance(value, list):
                raise FeatureError(R.WRONG_TYPE, f"feature {spec.name!r}: expected nested "
                                   f"arrays or base64, got {type(value).__name__}")
            out.append(value)
        if len(row) != len(self.specs):
            extra = sorted(set(row) - self._known)
            if extra:
                raise FeatureError(R.UNKNOWN_FEATURE, f"unknown features {extra[:5]}")
        return out

    def _column(
        self, spec: FeatureSpec, values: list[Any]
    ) -> tuple[FeatureColumn, dict[int, FeatureError]]:
        """One non-scalar feature's column and the rows it rejects (by index in ``values``)."""
        if spec.type == "text":
            return values, _too_long(spec, values, R.TEXT_TOO_LONG, "characters")
        if spec.type == "bytes":
            return values, _too_long(spec, values, R.TOO_LARGE, "bytes")
        return _tensor_column(spec, values)


def _base64(spec: FeatureSpec, value: str) -> bytes:
    """The bytes of a base64 value; raises :class:`FeatureError` (``invalid_base64``)."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FeatureError(R.INVALID_BASE64, f"feature {spec.name!r}: not valid base64") from None


def _too_long(
    spec: FeatureSpec, values: list[Any], reason: DeadLetterReason, unit: str
) -> dict[int, FeatureError]:
    limit = spec.max_length
    if limit is None:
        return {}
    return {
        i: FeatureError(reason, f"feature {spec.name!r}: {len(v)} {unit} > max_length={limit}")
        for i, v in enumerate(values) if len(v) > limit
    }


def _tensor_column(
    spec: FeatureSpec, values: list[Any]
) -> tuple[FeatureColumn, dict[int, FeatureError]]:
    """Fixed shape: one ``(n, *shape)`` array (rejected rows zero-filled, dropped later by
    the caller); a variable axis: a list of arrays. Base64 values are the raw bytes."""
    dtype = np.dtype(spec.dtype).newbyteorder("<")
    shape = tuple(spec.shape or ())
    fixed: tuple[int, ...] = tuple(d or 0 for d in shape)
    n = len(values)
    if spec.variable_axis is None and n:
        nbytes = math.prod(fixed) * dtype.itemsize
        try:
            if all(type(v) is bytes for v in values):
                if set(map(len, values)) == {nbytes}:
                    # bytearray: a writable buffer (torch.from_numpy warns on read-only ones)
                    array = np.frombuffer(bytearray(b"".join(values)), dtype).reshape(n, *shape)
                    return _checked(spec, array.astype(dtype.newbyteorder("="), copy=False))
            elif all(type(v) is list for v in values):
                array = np.array(values, dtype=_json_dtype(dtype))
                if array.shape == (n, *shape):
                    return _checked(spec, _cast(spec, array, dtype))
        except (ValueError, TypeError, OverflowError):
            pass  # ragged, mixed or mistyped: row by row below
    errors: dict[int, FeatureError] = {}
    arrays: list[npt.NDArray[Any] | None] = []
    for i, value in enumerate(values):
        try:
            arrays.append(_one(spec, value, dtype, shape))
        except FeatureError as exc:
            errors[i] = exc
            arrays.append(None)
    if spec.variable_axis is not None:
        return [a if a is not None else np.zeros(0, dtype) for a in arrays], errors
    native = dtype.newbyteorder("=")
    if not arrays:
        return np.zeros((0, *fixed), native), errors
    fill = np.zeros(fixed, native)
    return np.stack([a if a is not None else fill for a in arrays]), errors


def _json_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype nested JSON arrays are read into before the cast (exact for integers)."""
    return np.dtype(np.float64) if dtype.kind == "f" else np.dtype(np.float64) if dtype.kind in (
        "i", "u") else np.dtype(np.bool_)


def _cast(spec: FeatureSpec, array: npt.NDArray[Any], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """Nested-array values cast to the manifest's dtype; raises ``ValueError`` when an
    integer tensor holds a fraction or a value its dtype cannot hold."""
    target = dtype.newbyteorder("=")
    if target.kind in "iu":
        info = np.iinfo(target)
        if not (np.isfinite(array).all() and (array == np.floor(array)).all()
                and array.min(initial=0) >= info.min and array.max(initial=0) <= info.max):
            raise ValueError("not integers of the dtype")
    return array.astype(target)


def _checked(
    spec: FeatureSpec, array: npt.NDArray[Any]
) -> tuple[FeatureColumn, dict[int, FeatureError]]:
    """Rows with a non-finite element or one outside ``[min, max]`` become errors."""
    errors: dict[int, FeatureError] = {}
    if array.dtype.kind == "f" or spec.min is not None or spec.max is not None:
        flat = array.reshape(len(array), -1)
        for i in map(int, np.flatnonzero(~_good_rows(spec, flat))):
            errors[i] = _row_problem(spec, flat[i])
    return array, errors


def _good_rows(spec: FeatureSpec, flat: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    good = np.ones(len(flat), dtype=bool)
    if flat.dtype.kind == "f":
        good &= np.isfinite(flat).all(axis=1)
    with np.errstate(invalid="ignore"):
        if spec.min is not None:
            good &= (flat >= spec.min).all(axis=1)
        if spec.max is not None:
            good &= (flat <= spec.max).all(axis=1)
    return good


def _row_problem(spec: FeatureSpec, flat: npt.NDArray[Any]) -> FeatureError:
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        return FeatureError(R.NON_FINITE, f"feature {spec.name!r} holds a non-finite value")
    return FeatureError(
        R.OUT_OF_RANGE,
        f"feature {spec.name!r}: values in [{flat.min()}, {flat.max()}] outside "
        f"[{spec.min}, {spec.max}]",
    )


def _one(
    spec: FeatureSpec, value: Any, dtype: np.dtype[Any], shape: tuple[int | None, ...]
) -> npt.NDArray[Any]:
    """One event's tensor, checked; raises :class:`FeatureError` naming the problem."""
    name = spec.name
    if isinstance(value, bytes):
        if len(value) % dtype.itemsize:
            raise FeatureError(R.WRONG_SHAPE, f"feature {name!r}: {len(value)} bytes is not a "
                               f"whole number of {dtype.name} elements")
        array = np.frombuffer(bytearray(value), dtype)
        fixed = math.prod(d for d in shape if d is not None)
        if spec.variable_axis is None:
            if array.size != fixed:
                raise FeatureError(R.WRONG_SHAPE, f"feature {name!r}: {array.size} elements, "
                                   f"shape {list(shape)} needs {fixed}")
            array = array.reshape(shape)  # type: ignore[arg-type]
        else:
            if array.size % fixed:
                raise FeatureError(R.WRONG_SHAPE, f"feature {name!r}: {array.size} elements "
                                   f"do not fill shape {list(shape)}")
            array = array.reshape([-1 if d is None else d for d in shape])
        array = array.astype(dtype.newbyteorder("="))
    else:
        try:
            raw = np.array(value)
        except (ValueError, TypeError):
            raise FeatureError(R.WRONG_SHAPE, f"feature {name!r}: ragged nested arrays") from None
        if raw.dtype.kind not in "fiub":
            raise FeatureError(R.WRONG_DTYPE, f"feature {name!r}: elements must be numbers "
                               f"of dtype {spec.dtype}")
        if raw.ndim != len(shape) or any(
            d is not None and d != s for d, s in zip(shape, raw.shape, strict=True)
        ):
            raise FeatureError(R.WRONG_SHAPE, f"feature {name!r}: shape {list(raw.shape)}, "
                               f"expected {[d for d in shape]}")
        try:
            array = _cast(spec, raw.astype(np.float64), dtype)
        except ValueError:
            raise FeatureError(R.WRONG_DTYPE, f"feature {name!r}: values are not "
                               f"{spec.dtype}") from None
    flat = array.reshape(1, -1)
    if not _good_rows(spec, flat)[0]:
        raise _row_problem(spec, flat[0])
    return array
