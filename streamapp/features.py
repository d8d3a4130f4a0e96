"""Feature encoding shared by training, retraining and scoring: one definition, one code path.

A feature dict becomes a float32 row in manifest order: numeric values as
floats (range-checked), categorical values as their index in the manifest's
``categories`` (a category also answers to its text: ``"3"`` for ``3``; a boolean
category to ``true``/``false``, ``1``/``0`` and ``"true"``/``"false"``). Any
violation raises :class:`FeatureError` with a dead-letter reason code, so the
caller can route the event to the dead-letter topic.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.registry.manifest import FeatureSpec
from streamapp.schemas import DeadLetterReason

_NUMBER_TYPES = frozenset({int, float})
_FLOAT64_MAX = float(np.finfo(np.float64).max)

_Category = tuple[int, int, "npt.NDArray[np.int64] | None"]
_Plan = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[_Category]]
"""Per-column lower and upper bounds, and (position, lowest value, lookup or None) per category."""


def _float64(value: object) -> bool:
    """Whether the fast path's float64 matrix holds ``value`` as it is (a float, or an int
    within float64's range); any other value sends its row to the per-row path."""
    kind = type(value)
    return kind is float or (kind is int and abs(value) <= _FLOAT64_MAX)  # type: ignore[arg-type]


def category_keys(category: bool | int | str) -> list[bool | int | str]:
    """The values that encode as ``category``: itself, its text and, for a boolean, its
    integer and lower-case text (the monitor bins them alike, see ``statistics.spec``).

    >>> category_keys(True), category_keys(3)
    ([True, 'True', 1, 'true'], [3, '3'])
    """
    if isinstance(category, bool):
        return [category, str(category), int(category), str(category).lower()]
    return [category, str(category)]


def is_boolean(spec: FeatureSpec) -> bool:
    """A categorical feature registered from a boolean column (categories ``false``/``true``)."""
    return bool(spec.categories) and all(type(c) is bool for c in spec.categories or ())


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
        # No names (a tensor model's scalar part): every row maps to the empty tuple.
        self._getter: Any = operator.itemgetter(*self.names) if self.names else (lambda _r: ())
        self._tables: dict[int, tuple[int, npt.NDArray[np.int64]] | None] = {}
        self._plan_cache: _Plan | tuple[()] | None = None
        self._category_index: list[dict[Any, int] | None] = []
        self._boolean = [is_boolean(spec) for spec in self.specs]
        for spec in self.specs:
            if spec.type == "categorical":
                index: dict[Any, int] = {}
                for i, cat in enumerate(spec.categories or []):
                    for key in category_keys(cat):
                        index.setdefault(key, i)
                self._category_index.append(index)
            else:
                self._category_index.append(None)

    def encode_value(self, position: int, value: object) -> float:
        """One value → float; raises :class:`FeatureError`."""
        spec = self.specs[position]
        index = self._category_index[position]
        if index is not None:
            if (isinstance(value, bool) and not self._boolean[position]) or not isinstance(
                value, int | str | float
            ):
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
            if code is None and isinstance(value, float):
                code = index.get(repr(value))  # a non-integer category registered as text
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
        try:
            number = float(value)
        except OverflowError:  # an integer past float64's range
            raise FeatureError(
                DeadLetterReason.OUT_OF_RANGE,
                f"feature {spec.name!r}: {str(value)[:32]}… does not fit a 64-bit float",
            ) from None
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

    def encode_batch(
        self, rows: Sequence[Mapping[str, object]]
    ) -> tuple[npt.NDArray[np.float32], list[int], list[tuple[int, FeatureError]]]:
        """Encode many rows at once: ``(matrix, row index of each matrix row, errors)``.

        A vectorised fast path (all-numeric values, integer categories) checks
        types, finiteness, ranges and categories with numpy; any row it cannot
        vouch for is re-encoded by :meth:`encode`, so reasons and results are
        exactly those of the per-row path. Never raises for bad rows.
        """
        width = len(self.names)
        fast, fast_idx, slow = self._split(rows, width)
        matrix = np.empty((0, width), dtype=np.float64)
        if fast:
            try:
                if not set(map(type, chain.from_iterable(fast))) <= _NUMBER_TYPES:
                    raise TypeError  # some value is not a number: checked row by row
                matrix = np.array(fast, dtype=np.float64).reshape(len(fast), width)
            except (TypeError, OverflowError):  # OverflowError: an int past float64
                nan_row = (math.nan,) * width  # a NaN row takes the per-row path
                matrix = np.array(
                    [vals if all(map(_float64, vals)) else nan_row for vals in fast],
                    dtype=np.float64,
                ).reshape(len(fast), width)
            matrix, bad = self.encode_values(matrix)
            if bad:
                slow.extend(fast_idx[j] for j in bad)
                rejected = set(bad)
                fast_idx = [i for j, i in enumerate(fast_idx) if j not in rejected]
        return self.finish(matrix, fast_idx, ((i, rows[i]) for i in sorted(slow)))

    def vector_types(self) -> list[type] | None:
        """The value type of each feature that :meth:`encode_values` takes, or None.

        ``float`` for a numeric feature, ``int`` for a categorical one with small
        integer categories, ``bool`` for a boolean one; None when some feature
        (string categories) needs :meth:`encode`.
        """
        types: list[type] = []
        for pos, spec in enumerate(self.specs):
            if spec.type != "categorical":
                types.append(float)
            elif self._int_table(pos) is not None:
                types.append(bool if self._boolean[pos] else int)
            else:
                return None
        return types

    def encode_values(
        self, values: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], list[int]]:
        """Raw values in manifest order, one row per event → ``(codes of good rows, bad rows)``.

        Checks finiteness, ranges and integer categories with numpy and encodes
        the rows that pass (in order); the positions of the others are returned
        for :meth:`finish`, whose :meth:`encode` names each one's reason.
        """
        good = self._vector_checks(values)
        if good.all():
            return self._encode_categories(values), []
        return self._encode_categories(values[good]), np.flatnonzero(~good).tolist()

    def finish(
        self,
        matrix: npt.NDArray[np.float64],
        order: list[int],
        rest: Iterable[tuple[int, Mapping[str, object]]],
    ) -> tuple[npt.NDArray[np.float32], list[int], list[tuple[int, FeatureError]]]:
        """``matrix`` (rows ``order``) plus the ``(index, row)`` pairs of ``rest`` encoded one by
        one: ``(float32 matrix, row index of each matrix row, errors)``. Never raises for bad rows.
        """
        errors: list[tuple[int, FeatureError]] = []
        extra_rows: list[list[float]] = []
        for i, row in rest:
            try:
                extra_rows.append(self.encode(row))
                order.append(i)
            except FeatureError as exc:
                errors.append((i, exc))
        out = matrix.astype(np.float32)
        if extra_rows:
            width = len(self.names)
            out = np.vstack([out, np.asarray(extra_rows, dtype=np.float32).reshape(-1, width)])
        return np.ascontiguousarray(out), order, errors

    def _split(
        self, rows: Sequence[Mapping[str, object]], width: int
    ) -> tuple[list[Any], list[int], list[int]]:
        """``(values in manifest order, their row indices, rows for the per-row path)``.

        Common case first: every row holds exactly the manifest's features, read
        by C-level ``map`` passes; otherwise row by row.
        """
        getter = self._getter
        if rows and set(map(len, rows)) == {width}:
            try:
                values = list(map(getter, rows))
            except KeyError:
                pass
            else:
                fast_all = values if width != 1 else [(v,) for v in values]
                return fast_all, list(range(len(rows))), []
        fast: list[Any] = []
        fast_idx: list[int] = []
        slow: list[int] = []
        for i, feats in enumerate(rows):
            if len(feats) != width and not (self.allow_extra and len(feats) > width):
                slow.append(i)
                continue
            try:
                vals = getter(feats)
            except KeyError:
                slow.append(i)
                continue
            fast.append(vals if width != 1 else (vals,))
            fast_idx.append(i)
        return fast, fast_idx, slow

    def _vector_checks(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Row mask: finite, in range, valid integer category — per the manifest.

        One comparison of the whole matrix against per-column bounds (a
        category's bounds are its table's), then, per categorical column, an
        integer check and (for tables with gaps) the lookup.
        """
        plan = self._plan()
        if plan is None:
            return np.zeros(len(matrix), dtype=bool)
        lows, highs, cats = plan
        with np.errstate(invalid="ignore"):
            good = np.asarray(((matrix >= lows) & (matrix <= highs)).all(axis=1))
        for pos, lo, lookup in cats:
            col = matrix[:, pos]
            good &= col == np.floor(col)
            if lookup is not None:
                idx = np.where(good, col - lo, 0).astype(np.int64)
                good &= lookup[idx] >= 0
        return good

    def _plan(self) -> _Plan | None:
        """Bounds and categorical columns for :meth:`_vector_checks` (None: not vectorisable)."""
        if self._plan_cache is not None:
            return self._plan_cache or None
        top = float(np.finfo(np.float64).max)
        lows, highs = [-top] * len(self.specs), [top] * len(self.specs)
        cats: list[_Category] = []
        for pos, spec in enumerate(self.specs):
            if spec.type == "categorical":
                table = self._int_table(pos)
                if table is None:
                    self._plan_cache = ()
                    return None
                lo, lookup = table
                lows[pos], highs[pos] = lo, lo + len(lookup) - 1
                cats.append((pos, lo, None if (lookup >= 0).all() else lookup))
            else:
                lows[pos] = -top if spec.min is None else max(-top, spec.min)
                highs[pos] = top if spec.max is None else min(top, spec.max)
        plan: _Plan = (np.array(lows), np.array(highs), cats)
        self._plan_cache = plan
        return plan

    def _encode_categories(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Replace checked integer category values by their codes (in place)."""
        for pos, spec in enumerate(self.specs):
            if spec.type == "categorical" and len(matrix):
                table = self._int_table(pos)
                assert table is not None
                lo, lookup = table
                matrix[:, pos] = lookup[(matrix[:, pos] - lo).astype(np.int64)]
        return matrix

    def _int_table(self, pos: int) -> tuple[int, npt.NDArray[np.int64]] | None:
        """``(lowest category, value - lowest → code or -1)`` for small integer (or boolean:
        0 and 1) categories."""
        cached = self._tables.get(pos)
        if cached is not None or pos in self._tables:
            return cached
        cats = self.specs[pos].categories or []
        table: tuple[int, npt.NDArray[np.int64]] | None = None
        if cats and (all(type(c) is int for c in cats) or self._boolean[pos]):
            ints = [int(c) for c in cats]
            lo, hi = min(ints), max(ints)
            if hi - lo < 65536:
                lookup = np.full(hi - lo + 1, -1, dtype=np.int64)
                for code, value in enumerate(ints):
                    if lookup[value - lo] < 0:
                        lookup[value - lo] = code
                table = (lo, lookup)
        self._tables[pos] = table
        return table

    def decode(self, row: Sequence[float]) -> dict[str, bool | int | str | float]:
        """Inverse of :meth:`encode` (categorical codes back to their category values)."""
        out: dict[str, bool | int | str | float] = {}
        for spec, value in zip(self.specs, row, strict=True):
            if spec.categories is not None:
                out[spec.name] = spec.categories[int(value)]
            else:
                out[spec.name] = float(value)
        return out
