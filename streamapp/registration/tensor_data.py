"""Reference data of a tensor model: read it, infer its feature specs, decode it as a worker does.

Accepted forms of ``X_ref`` (and of ``holdout``):

- a dict ``{feature: values}`` (or a DataFrame with such columns): an ``(n, *shape)``
  array (or a list of ``n`` arrays, one axis may vary) is a ``tensor`` feature, a list
  of ``str`` is ``text``, a list of ``bytes`` is ``bytes`` (``media="image"`` when
  every value starts with an image format's magic number), a 1-D numeric or boolean
  column is a scalar feature (as :func:`~streamapp.registration.frame.infer_features`);
- a :class:`~streamapp.inputs.FeatureBatch` (its scalar matrix needs ``features=``
  naming the scalar features);
- a path: ``.npz`` (one key per feature; text as a unicode array), ``.npy`` (one tensor
  feature named after the file), JSONL (``.jsonl``, ``.ndjson``: one ``features``
  object per line, as producers send them) or Parquet (list columns are tensors, string
  columns text, binary columns bytes).

Every row is then decoded by the scorer's own decoder
(:meth:`~streamapp.inputs.tensors.TensorEncoder.encode_dicts`, values as base64 where
they are arrays or bytes), so registration sees exactly the batch a worker builds; a row
it rejects is a :class:`RegistrationError` naming the row and the reason.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast, get_args

import numpy as np
import numpy.typing as npt

from streamapp.inputs.batch import FeatureBatch
from streamapp.inputs.tensors import TensorEncoder
from streamapp.processing import columns as scalar_columns
from streamapp.registration.frame import RegistrationError, infer_features
from streamapp.registry.manifest import FeatureSpec, Manifest, TensorDType

TENSOR_SUFFIXES = (".npz", ".npy", ".jsonl", ".ndjson")
"""Paths that are always tensor-model reference data (Parquet is when it has list columns)."""
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
               b"MM\x00*")
DTYPES: frozenset[str] = frozenset(get_args(TensorDType))
MIN_MAX_LENGTH = 16
Raw = dict[str, Any]
"""Feature name → the raw column (array, list of arrays, list of str / bytes, 1-D numbers)."""


def is_image(value: bytes) -> bool:
    """Whether ``value`` starts with the magic number of an image format Pillow reads.

    >>> is_image(b"\\x89PNG\\r\\n\\x1a\\n..."), is_image(b"RIFF\\x00\\x00\\x00\\x00WEBPVP8 "),
    ... is_image(b"hello")
    (True, True, False)
    """
    if value[:4] == b"RIFF" and value[8:12] == b"WEBP":
        return True
    return value.startswith(IMAGE_MAGIC)


def is_tensor_reference(data: Any, features: Sequence[FeatureSpec] | None) -> bool:
    """Whether ``data`` (``X_ref``) is a tensor model's reference rather than a table."""
    if any(not f.is_scalar for f in features or ()):
        return True
    if isinstance(data, FeatureBatch):
        return True
    if isinstance(data, str | Path):
        path = Path(data)
        if path.name.lower().endswith(TENSOR_SUFFIXES):
            return True
        if path.name.lower().endswith((".parquet", ".pq")):
            return _parquet_has_tensors(path)
        return False
    if isinstance(data, Mapping) or _is_frame(data):
        raw = read_raw(data)
        return isinstance(raw, dict) and any(_kind(v) not in ("scalar", "str")
                                             for v in raw.values())
    return False


def _is_frame(data: Any) -> bool:
    return hasattr(data, "columns") and hasattr(data, "to_numpy") and hasattr(data, "iloc")


def read_raw(data: Any, features: Sequence[FeatureSpec] | None = None) -> Raw | FeatureBatch:
    """``X_ref`` as raw columns (or the :class:`FeatureBatch` given); raises
    :class:`RegistrationError` for a form or file it cannot read."""
    if isinstance(data, FeatureBatch):
        return data
    if isinstance(data, Mapping):
        return {str(k): v for k, v in data.items()}
    if _is_frame(data):  # a DataFrame: object columns (lists, arrays, str, bytes) as lists
        return {str(c): data[c].tolist() if data[c].dtype == object else data[c].to_numpy()
                for c in data.columns}
    if not isinstance(data, str | Path):
        raise RegistrationError(
            f"tensor reference data must be a dict of columns, a FeatureBatch or a .npz / .npy "
            f"/ .jsonl / .parquet path, not {type(data).__name__}")
    path = Path(data)
    name = path.name.lower()
    if not path.is_file():
        raise RegistrationError(f"{path}: no such file")
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as npz:
            return {k: _from_numpy(npz[k]) for k in npz.files}
    if name.endswith(".npy"):
        tensors = [f for f in features or () if f.type == "tensor"]
        key = tensors[0].name if len(tensors) == 1 else path.name[: -len(".npy")]
        return {key: np.load(path, allow_pickle=False)}
    if name.endswith((".jsonl", ".ndjson")):
        return _read_jsonl(path)
    if name.endswith((".parquet", ".pq")):
        return _read_parquet(path)
    raise RegistrationError(f"{path}: tensor reference data must be .npz, .npy, .jsonl or "
                            ".parquet")


def pop_labels(raw: Raw | FeatureBatch, label: str) -> tuple[Raw | FeatureBatch, Any]:
    """Split the label column ``label`` off raw columns; raises when it is not there."""
    if isinstance(raw, FeatureBatch) or label not in raw:
        raise RegistrationError(f"label column {label!r} is not in the reference data")
    rest = dict(raw)
    return rest, np.asarray(rest.pop(label))


def rows_of(raw: Raw | FeatureBatch) -> int:
    if isinstance(raw, FeatureBatch):
        return len(raw)
    lengths = {len(v) for v in raw.values()}
    if len(lengths) != 1:
        raise RegistrationError(f"reference columns have different lengths: "
                                f"{ {k: len(v) for k, v in raw.items()} }")
    return lengths.pop()


def infer_tensor_features(
    raw: Raw | FeatureBatch,
    overrides: Mapping[str, FeatureSpec] | None = None,
    categorical: Sequence[str] = (),
    range_margin: float | None = 1.0,
) -> list[FeatureSpec]:
    """One spec per column, in column order (``overrides`` by name replace inferred ones)."""
    overrides = dict(overrides or {})
    if isinstance(raw, FeatureBatch):
        scalar = [f for f in overrides.values() if f.is_scalar]
        if len(scalar) != raw.matrix.shape[1]:
            raise RegistrationError(
                f"the FeatureBatch has {raw.matrix.shape[1]} scalar columns; name them with "
                f"features=[FeatureSpec(...)] (got {len(scalar)} scalar specs)")
        raw = {**scalar_columns(scalar, raw.matrix), **raw.columns}
    unknown = (set(overrides) | set(categorical)) - set(raw)
    if unknown:
        raise RegistrationError(f"overrides name unknown columns {sorted(unknown)}")
    specs: dict[str, FeatureSpec] = {}
    scalars: dict[str, Any] = {}
    for name, values in raw.items():
        if name in overrides:
            specs[name] = overrides[name]
            continue
        kind = _kind(values)
        if kind == "scalar" or (kind == "str" and name in categorical):
            scalars[name] = np.asarray(values)
            specs[name] = FeatureSpec(name=name, type="numeric")  # placeholder, replaced below
        elif kind == "str" and isinstance(values, _JsonColumn) and _base64_images(values):
            spec = _sized(name, "bytes", [len(v) * 3 // 4 for v in values], range_margin)
            specs[name] = spec.model_copy(update={"media": "image"})
        elif kind == "str":
            specs[name] = _sized(name, "text", [len(v) for v in values], range_margin)
        elif kind == "bytes":
            spec = _sized(name, "bytes", [len(v) for v in values], range_margin)
            image = bool(len(values)) and all(is_image(bytes(v)) for v in values)
            specs[name] = spec.model_copy(update={"media": "image" if image else None})
        else:
            specs[name] = _tensor_spec(name, values, range_margin)
    if scalars:
        import pandas as pd

        inferred = infer_features(pd.DataFrame(scalars), {}, categorical, range_margin)
        specs.update({s.name: s for s in inferred})
    return [specs[name] for name in raw]


def decode(raw: Raw | FeatureBatch, specs: Sequence[FeatureSpec], what: str = "reference"
           ) -> FeatureBatch:
    """Every row through the scorer's decoder; raises :class:`RegistrationError` naming the
    first rejected rows and their reasons (or a missing / unknown column)."""
    if isinstance(raw, FeatureBatch):
        scalar = [f for f in specs if f.is_scalar]
        raw = {**scalar_columns(scalar, raw.matrix), **raw.columns}
    names = [s.name for s in specs]
    missing = [n for n in names if n not in raw]
    extra = sorted(set(raw) - set(names))
    if missing or extra:
        raise RegistrationError(f"{what} data: columns {sorted(raw)} do not match the features "
                                f"{names} (missing {missing}, unknown {extra})")
    n = rows_of(raw)
    wire = {s.name: _wire_column(s, raw[s.name]) for s in specs}
    rows = [{k: col[i] for k, col in wire.items()} for i in range(n)]
    return decode_rows(rows, specs, what)


def decode_rows(rows: Sequence[Mapping[str, Any]], specs: Sequence[FeatureSpec],
                what: str = "reference") -> FeatureBatch:
    """``features`` objects (as events carry them) → the batch; raises on any rejected row."""
    encoder = TensorEncoder(view_manifest(specs))
    batch, order, errors = encoder.encode_dicts(rows)
    if errors:
        shown = "; ".join(f"row {i}: {e.reason.value}: {e.detail}" for i, e in errors[:3])
        raise RegistrationError(f"{len(errors)} of {len(rows)} {what} rows are rejected by the "
                                f"scorer's decoder ({shown}); fix the data or the feature specs")
    if order != list(range(len(rows))):
        batch = batch[np.argsort(np.asarray(order))]
    return batch


def view_manifest(specs: Sequence[FeatureSpec]) -> Manifest:
    """A manifest holding only ``specs`` (unvalidated): what the decoder and sketcher read."""
    fields: dict[str, Any] = {"features": list(specs)}
    return Manifest.model_construct(**fields)


# -- reading ---------------------------------------------------------------------------


def _from_numpy(array: npt.NDArray[Any]) -> Any:
    if array.dtype.kind == "U":
        return [str(v) for v in array]
    if array.dtype.kind == "S":
        return [bytes(v) for v in array]
    return array


def _read_jsonl(path: Path) -> Raw:
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RegistrationError(f"{path}:{number}: not JSON: {exc}") from None
            if not isinstance(row, dict):
                raise RegistrationError(f"{path}:{number}: expected a features object")
            rows.append(row)
    if not rows:
        raise RegistrationError(f"{path}: no rows")
    names = list(rows[0])
    for number, row in enumerate(rows, 1):
        if set(row) != set(names):
            raise RegistrationError(f"{path}: row {number} has features {sorted(row)}, the "
                                    f"first row {sorted(names)}")
    return {n: _JsonColumn([r[n] for r in rows]) for n in names}


class _JsonColumn(list[Any]):
    """The values of one JSON feature as sent (nested lists, str, base64 str, numbers)."""


def _read_parquet(path: Path) -> Raw:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    out: Raw = {}
    for name in table.column_names:
        column = table.column(name)
        values = column.to_pylist()
        if _is_list_type(column.type):
            try:
                out[name] = np.asarray(values, dtype=np.float64 if _floats(column.type)
                                       else None)
            except ValueError:  # ragged: one array per row
                out[name] = [np.asarray(v) for v in values]
        elif values and (all(isinstance(v, bytes) for v in values)
                         or all(isinstance(v, str) for v in values)):
            out[name] = values
        else:
            out[name] = column.to_numpy()
    return out


def _is_list_type(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind)
                or pa.types.is_fixed_size_list(kind))


def _floats(kind: Any) -> bool:
    import pyarrow as pa

    while _is_list_type(kind):
        kind = kind.value_type
    return bool(pa.types.is_floating(kind))


def _parquet_has_tensors(path: Path) -> bool:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
    except Exception:  # unreadable here: the table reader reports it
        return False
    return any(_is_list_type(f.type) or pa.types.is_binary(f.type) for f in schema)


# -- inference -------------------------------------------------------------------------


def _kind(values: Any) -> str:
    """``scalar`` (1-D numbers / bools), ``str``, ``bytes``, ``json`` (JSON values of a
    tensor), ``tensor`` (an array with rows), ``ragged`` (a list of arrays)."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "US":
            return "str" if values.dtype.kind == "U" else "bytes"
        if values.dtype.kind == "O":
            return _kind(list(values))
        return "scalar" if values.ndim == 1 else "tensor"
    if hasattr(values, "to_numpy") and not isinstance(values, list):  # a pandas Series
        return _kind(values.to_numpy())
    items = list(values)
    if items and all(isinstance(v, str) for v in items):
        return "str"
    if items and all(isinstance(v, bytes | bytearray) for v in items):
        return "bytes"
    if items and all(isinstance(v, np.ndarray) for v in items):
        return "ragged"
    if items and all(isinstance(v, list) for v in items):
        return "json"
    return "scalar"


def _base64_images(values: Sequence[str]) -> bool:
    """Whether every JSON string is base64 of an image (a bytes feature as sent)."""
    try:
        return all(is_image(base64.b64decode(v[:64], validate=True)) for v in values)
    except ValueError:
        return False


def _tensor_spec(name: str, values: Any, margin: float | None) -> FeatureSpec:
    """dtype and shape of one tensor column (an array, a list of arrays, JSON lists)."""
    kind = _kind(values)
    if kind == "json":
        try:
            array = np.asarray(list(values), dtype=np.float64)
        except ValueError:
            raise RegistrationError(
                f"feature {name!r}: nested arrays of different shapes; declare it with "
                "features=[FeatureSpec(name=..., type='tensor', dtype=..., shape=[..., None])]"
            ) from None
        integral = bool(np.all(array == np.floor(array))) and np.isfinite(array).all()
        ints = any(isinstance(v, int) for v in _first_leaf(values))
        dtype = "int64" if integral and ints else "float32"
        return _ranged(name, dtype, list(array.shape[1:]), array, margin)
    if kind == "ragged":
        arrays = [np.asarray(v) for v in values]
        ndims = {a.ndim for a in arrays}
        if len(ndims) != 1:
            raise RegistrationError(f"feature {name!r}: arrays of different ranks {ndims}")
        shapes = np.array([a.shape for a in arrays])
        varying = [i for i in range(shapes.shape[1]) if len(set(shapes[:, i])) > 1]
        if len(varying) > 1:
            raise RegistrationError(f"feature {name!r}: more than one axis varies ({varying})")
        shape: list[int | None] = [int(d) for d in shapes[0]]
        for axis in varying:
            shape[axis] = None
        flat = np.concatenate([a.reshape(-1) for a in arrays])
        return _ranged(name, _dtype(name, arrays[0].dtype), shape, flat, margin)
    array = np.asarray(values)
    if array.ndim < 2:
        raise RegistrationError(f"feature {name!r}: a tensor column needs rows, shape "
                                f"{array.shape}")
    return _ranged(name, _dtype(name, array.dtype), list(array.shape[1:]), array, margin)


def _first_leaf(values: Any) -> list[Any]:
    item = values[0]
    while isinstance(item, list) and item and isinstance(item[0], list):
        item = item[0]
    return item if isinstance(item, list) else [item]


def _dtype(name: str, dtype: np.dtype[Any]) -> str:
    """The manifest dtype of an array: its own, float64 → float32 (what models take;
    declare ``dtype="float64"`` to keep it), other integers → int64."""
    if dtype.name in DTYPES and dtype.name != "float64":
        return dtype.name
    if dtype.kind == "f":
        return "float32"
    if dtype.kind in "iu":
        return "int64"
    if dtype.kind == "b":
        return "bool"
    raise RegistrationError(f"feature {name!r}: arrays of dtype {dtype} cannot be a tensor")


def _ranged(name: str, dtype: str, shape: list[int | None], values: npt.NDArray[Any],
            margin: float | None) -> FeatureSpec:
    """A tensor spec whose allowed range is the observed one widened like a numeric's."""
    if dtype == "bool" or margin is None or values.size == 0:
        return FeatureSpec(name=name, type="tensor", dtype=cast(Any, dtype), shape=shape)
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(flat).all():
        raise RegistrationError(f"feature {name!r} has non-finite values")
    bounds = infer_features(_frame({name: np.array([flat.min(), flat.max()])}), {}, (),
                            margin)[0]
    lo, hi = bounds.min, bounds.max
    if dtype in ("int64", "int32", "uint8"):
        info = np.iinfo(dtype)
        lo = None if lo is None else max(float(math.floor(lo)), float(info.min))
        hi = None if hi is None else min(float(math.ceil(hi)), float(info.max))
    return FeatureSpec(name=name, type="tensor", dtype=cast(Any, dtype), shape=shape,
                       min=lo, max=hi)


def _frame(columns: Mapping[str, Any]) -> Any:
    import pandas as pd

    return pd.DataFrame(dict(columns))


def _sized(name: str, kind: str, lengths: list[int], margin: float | None) -> FeatureSpec:
    """A text / bytes spec with ``max_length`` a power of two at least ``(1 + margin)`` times
    the longest value (None: unbounded)."""
    if margin is None or not lengths:
        return FeatureSpec(name=name, type=cast(Any, kind))
    longest = max(max(lengths) * (1.0 + margin), MIN_MAX_LENGTH)
    return FeatureSpec(name=name, type=cast(Any, kind),
                       max_length=1 << math.ceil(math.log2(longest)))


# -- to the wire -------------------------------------------------------------------------


def _wire_column(spec: FeatureSpec, values: Any) -> list[Any]:
    """One column's values as a producer would send them: tensors and bytes as base64 (of
    the manifest dtype's little-endian bytes), JSON columns and scalars as they are."""
    if isinstance(values, _JsonColumn):
        return list(values)
    if spec.type == "tensor":
        dtype = np.dtype(spec.dtype).newbyteorder("<")
        if isinstance(values, np.ndarray) and values.dtype.kind != "O":
            return [_b64(v, dtype) for v in values]
        if values and isinstance(values[0], list):
            return list(values)
        return [_b64(np.asarray(v), dtype) for v in values]
    if spec.type == "bytes":
        return [base64.b64encode(bytes(v)).decode() if isinstance(v, bytes | bytearray) else v
                for v in values]
    if spec.type == "text":
        return [str(v) if isinstance(v, np.str_) else v for v in values]
    array = np.asarray(values)
    return [v.item() if isinstance(v, np.generic) else v for v in array]


def _b64(value: npt.NDArray[Any], dtype: np.dtype[Any]) -> Any:
    """Base64 of the value cast to ``dtype``; the nested list instead when the cast would
    change a value (a fraction into an integer dtype), so the decoder names the problem."""
    cast_value = value.astype(dtype)
    if value.dtype.kind == "f" and dtype.kind in "iub" and not np.array_equal(cast_value, value):
        return value.tolist()
    return base64.b64encode(np.ascontiguousarray(cast_value).tobytes()).decode()
