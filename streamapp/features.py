"""Feature encoding shared by training, retraining and scoring: one definition, one code path.

A feature dict becomes a float32 row in manifest order: numeric values as
floats (range-checked), categorical values as their index in the manifest's
``categories``. Any violation raises :class:`FeatureError` with a dead-letter
reason code, so the caller can route the event to the dead-letter topic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.registry.manifest import FeatureSpec
from streamapp.schemas import DeadLetterReason


class FeatureError(ValueError):
    """A feature value is unusable; ``reason`` is the dead-letter reason code."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class FeatureEncoder:
    """Encodes feature mappings for one manifest's ordered feature list."""

    def __init__(self, specs: Sequence[FeatureSpec], allow_extra: bool = False) -> None:
        self.specs = list(specs)
        self.names = [s.name for s in self.specs]
        self._known = frozenset(self.names)
        self.allow_extra = allow_extra
        self._category_index: list[dict[Any, int] | None] = []
        for spec in self.specs:
            if spec.type == "categorical":
                index: dict[Any, int] = {}
                for i, cat in enumerate(spec.categories or []):
                    index[cat] = i
                    index[str(cat)] = i
                self._category_index.append(index)
            else:
                self._category_index.append(None)

    def encode_value(self, position: int, value: object) -> float:
        """One value → float; raises :class:`FeatureError`."""
        spec = self.specs[position]
        index = self._category_index[position]
        if index is not None:
            if isinstance(value, bool) or not isinstance(value, int | str | float):
                raise FeatureError(
                    DeadLetterReason.WRONG_TYPE,
                    f"feature {spec.name!r}: expected a category, got {type(value).__name__}",
                )
            key: object = value
            if isinstance(value, float):
                if not math.isfinite(value):
                    raise FeatureError(
                        DeadLetterReason.NON_FINITE, f"feature {spec.name!r} is {value}"
                    )
                if value.is_integer():
                    key = int(value)
            code = index.get(key)
            if code is None:
                raise FeatureError(
                    DeadLetterReason.UNKNOWN_CATEGORY,
                    f"feature {spec.name!r}: {value!r} is not one of {spec.categories}",
                )
            return float(code)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FeatureError(
                DeadLetterReason.WRONG_TYPE,
                f"feature {spec.name!r}: expected a number, got {type(value).__name__}",
            )
        number = float(value)
        if not math.isfinite(number):
            raise FeatureError(DeadLetterReason.NON_FINITE, f"feature {spec.name!r} is {number}")
        if (spec.min is not None and number < spec.min) or (
            spec.max is not None and number > spec.max
        ):
            raise FeatureError(
                DeadLetterReason.OUT_OF_RANGE,
                f"feature {spec.name!r}={number} outside [{spec.min}, {spec.max}]",
            )
        return number

    def encode(self, features: Mapping[str, object]) -> list[float]:
        """A feature mapping → a row in manifest order; raises :class:`FeatureError`."""
        row: list[float] = []
        for position, name in enumerate(self.names):
            if name not in features or features[name] is None:
                raise FeatureError(DeadLetterReason.MISSING_FEATURE, f"feature {name!r} is missing")
            row.append(self.encode_value(position, features[name]))
        if not self.allow_extra and len(features) != len(self.names):
            extra = sorted(set(features) - self._known)
            if extra:
                raise FeatureError(
                    DeadLetterReason.UNKNOWN_FEATURE, f"unknown features {extra[:5]}"
                )
        return row

    def encode_many(self, rows: Iterable[Mapping[str, object]]) -> npt.NDArray[np.float32]:
        """Encode valid rows into a float32 matrix; raises on the first bad row."""
        data = [self.encode(r) for r in rows]
        return np.asarray(data, dtype=np.float32).reshape(len(data), len(self.names))

    def decode(self, row: Sequence[float]) -> dict[str, int | str | float]:
        """Inverse of :meth:`encode` (categorical codes back to their category values)."""
        out: dict[str, int | str | float] = {}
        for spec, value in zip(self.specs, row, strict=True):
            if spec.categories is not None:
                out[spec.name] = spec.categories[int(value)]
            else:
                out[spec.name] = float(value)
        return out
