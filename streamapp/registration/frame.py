"""Reference data for registration: read CSV / Parquet, infer feature specs, encode rows.

Inference is deliberately simple and overridable: numeric columns become
numeric features whose allowed range is the observed range widened by
``range_margin`` times its span on each side (values outside it are dead
letters at scoring time, so the margin leaves room for drift to be *measured*);
text, boolean and categorical columns become categorical features with their
sorted distinct values. Encoding goes through the scorer's own
:class:`~streamapp.features.FeatureEncoder`, so registration sees exactly the
rows a worker would build.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from streamapp.features import FeatureEncoder
from streamapp.registry.manifest import FeatureSpec

RANGE_MARGIN = 1.0


class RegistrationError(ValueError):
    """Registration input is unusable; the message names the fix."""


def read_table(path: Path) -> pd.DataFrame:
    """A CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file as a DataFrame."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path)
    raise RegistrationError(f"{path}: reference data must be .csv or .parquet")


def as_frame(data: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a dict of columns or a 2-D array (named ``columns``)."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, Mapping):
        return pd.DataFrame(dict(data))
    array = np.asarray(data)
    if array.ndim != 2:
        raise RegistrationError(f"reference data must be 2-D, got shape {array.shape}")
    names = list(columns) if columns is not None else [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=names)


def infer_features(
    frame: pd.DataFrame,
    overrides: Mapping[str, FeatureSpec] | None = None,
    categorical: Sequence[str] = (),
    range_margin: float | None = RANGE_MARGIN,
) -> list[FeatureSpec]:
    """One spec per column, in column order; ``overrides`` replace inferred specs by name.

    ``range_margin=None`` leaves numeric features unbounded.
    """
    overrides = dict(overrides or {})
    unknown = (set(overrides) | set(categorical)) - set(frame.columns)
    if unknown:
        raise RegistrationError(f"overrides name unknown columns {sorted(unknown)}")
    specs = []
    for name in frame.columns:
        if name in overrides:
            specs.append(overrides[name])
            continue
        column = frame[name]
        if column.isna().any():
            raise RegistrationError(
                f"column {name!r} has {int(column.isna().sum())} missing values; "
                "drop or impute them before registering"
            )
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if numeric and name not in categorical:
            specs.append(_numeric(str(name), column.to_numpy(dtype=np.float64), range_margin))
        else:
            specs.append(_categorical(str(name), column))
    return specs


def _numeric(name: str, values: npt.NDArray[np.float64], margin: float | None) -> FeatureSpec:
    if not np.isfinite(values).all():
        raise RegistrationError(f"column {name!r} has non-finite values; drop or impute them")
    if margin is None:
        return FeatureSpec(name=name, type="numeric")
    lo, hi = float(values.min()), float(values.max())
    pad = margin * ((hi - lo) or max(abs(lo), 1.0))
    return FeatureSpec(name=name, type="numeric", min=_round(lo - pad, pad, math.floor),
                       max=_round(hi + pad, pad, math.ceil))


def _round(value: float, pad: float, direction: Callable[[float], int]) -> float:
    """Round a bound outward to two significant digits of the margin.

    >>> _round(-0.99927, 1.0, math.floor), _round(1.99879, 1.0, math.ceil)
    (-1.0, 2.0)
    """
    if pad <= 0:
        return value
    exponent = math.floor(math.log10(pad)) - 1
    return round(direction(value / 10.0**exponent) * 10.0**exponent, max(0, -exponent))


def _categorical(name: str, column: pd.Series) -> FeatureSpec:
    """Sorted distinct values: booleans stay ``false``/``true`` (the scorer takes JSON booleans
    for them), integral numbers become integers, anything else its text."""
    if pd.api.types.is_bool_dtype(column):
        present = {bool(v) for v in column.to_numpy()}
        return FeatureSpec(name=name, type="categorical", categories=sorted(present))
    distinct = {_plain(v) for v in column.to_numpy()}
    cats: list[bool | int | str] = [
        v if type(v) is int else str(v) for v in sorted(distinct, key=str)
    ]
    return FeatureSpec(name=name, type="categorical", categories=cats)


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value; an integral float as an int (``2.0`` → ``2``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def encode_frame(frame: pd.DataFrame, specs: Sequence[FeatureSpec]) -> npt.NDArray[np.float32]:
    """Encode every row with the scorer's encoder; raises naming the first bad rows."""
    missing = [s.name for s in specs if s.name not in frame.columns]
    if missing:
        raise RegistrationError(f"reference data lacks feature columns {missing}")
    subset = frame[[s.name for s in specs]]
    rows = subset.to_dict("records")
    matrix, order, errors = FeatureEncoder(specs).encode_batch(rows)
    if errors:
        shown = "; ".join(f"row {i}: {e.detail}" for i, e in errors[:3])
        raise RegistrationError(
            f"{len(errors)} reference rows do not fit the feature specs ({shown}); "
            "fix the data or override the specs"
        )
    out = np.empty_like(matrix)
    out[np.asarray(order, dtype=np.int64)] = matrix
    return out
