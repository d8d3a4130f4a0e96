"""Conformance checks for processors and scoring models: the runtime contract, executable.

The loader runs them on every version it loads, registration before it writes
one, and ``streamapp models validate`` on request; users run them in their own
test suites through ``streamapp.testing``, which re-exports them (the test kit
depends on the runtime, never the reverse).

Each check runs the object on a batch and asserts the contract the scorer
relies on: shape and dtype, finite values, determinism, batch-size invariance
(a row's result does not depend on its neighbours, which bisection needs), no
mutation of the input, and for models thread safety and probabilities. All
failures are collected into one :class:`ConformanceError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from streamapp.inputs.batch import FeatureBatch, processor_columns
from streamapp.processing import Bucket, as_matrix
from streamapp.registry.manifest import Manifest
from streamapp.runtime.base import FloatMatrix, ModelRows, ScoringModel

RTOL, ATOL = 1e-5, 1e-5


class ConformanceError(AssertionError):
    """The object breaks the contract; ``failures`` lists every failed check."""

    def __init__(self, what: str, failures: list[str]) -> None:
        super().__init__(f"{what} breaks the streamapp contract: " + "; ".join(failures))
        self.failures = failures


def check_processor(
    processor: Callable[[Any], object],
    batch: Mapping[str, Any] | npt.NDArray[np.generic],
    *,
    kind: Literal["pre", "post"] = "pre",
    width: int | None = None,
) -> FloatMatrix:
    """Check a pre processor (``batch``: columns, e.g. a dict or DataFrame) or a post processor
    (``batch``: the artifact's output matrix); returns its float32 output on ``batch``.

    Raises :class:`ConformanceError` naming each broken rule.
    """
    what = f"{kind} processor {getattr(processor, '__name__', type(processor).__name__)}"
    data = _as_batch(batch)
    rows = _rows(data)
    snapshot = _copy(data)
    try:
        first = processor(data)
    except Exception as exc:
        raise ConformanceError(what, [f"raised {type(exc).__name__}: {exc}"]) from exc
    failures: list[str] = []
    expected_width = width if width is not None else np.asarray(first).reshape(rows, -1).shape[1]
    try:
        out = as_matrix(first, rows, expected_width, kind)
    except ValueError as exc:
        raise ConformanceError(what, [str(exc)]) from None
    if not np.isfinite(out).all():
        failures.append("returned non-finite values on valid input")
    if not _same(snapshot, data):
        failures.append("modified its input in place; copy before changing it")
    again = as_matrix(processor(_copy(snapshot)), rows, expected_width, kind)
    if not np.array_equal(out, again, equal_nan=True):
        failures.append("is not deterministic: two calls on the same batch differ")
    for part in (slice(0, 1), slice(rows // 2, rows)):
        sub = _slice(snapshot, part)
        got = as_matrix(processor(sub), _rows(sub), expected_width, kind)
        if not np.allclose(got, out[part], rtol=RTOL, atol=ATOL, equal_nan=True):
            failures.append(
                f"rows {part.start}:{part.stop} differ when processed on their own; "
                "a row's result must not depend on the rest of the batch"
            )
            break
    if failures:
        raise ConformanceError(what, failures)
    return out


def check_scoring_model(model: ScoringModel, rows: ModelRows) -> FloatMatrix:
    """Check a loaded model on encoded rows (manifest feature order, or a tensor model's
    :class:`~streamapp.inputs.FeatureBatch`); returns its output.

    Raises :class:`ConformanceError` naming each broken rule.
    """
    what = f"model {model.name}/{model.version} ({model.runtime})"
    if not isinstance(rows, FeatureBatch):
        rows = np.ascontiguousarray(rows, dtype=np.float32)
    snapshot = _copy_rows(rows)
    expected = (len(rows), model.manifest.output.width)
    try:
        out = model.score(rows)
    except Exception as exc:
        raise ConformanceError(what, [f"predict raised {type(exc).__name__}: {exc}"]) from exc
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != expected:
        shape = getattr(out, "shape", None)
        raise ConformanceError(
            what, [f"predict must return float32 {expected}, got {getattr(out, 'dtype', out)} "
                   f"{shape}"]
        )
    failures: list[str] = []
    if not np.isfinite(out).all():
        failures.append("non-finite outputs on reference rows")
    if not _same_rows(rows, snapshot):
        failures.append("predict modified its input in place")
    if not np.array_equal(out, model.score(_copy_rows(snapshot))):
        failures.append("not deterministic: two calls on the same rows differ")
    for part in (slice(0, 1), slice(len(rows) // 2, len(rows))):
        if not np.allclose(model.score(snapshot[part]), out[part], rtol=RTOL, atol=ATOL):
            failures.append(f"rows {part.start}:{part.stop} score differently on their own")
            break
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(model.score, [_copy_rows(snapshot), _copy_rows(snapshot)]))
    if not all(np.allclose(r, out, rtol=RTOL, atol=ATOL) for r in results):
        failures.append("concurrent calls give different results; predict must be thread-safe")
    if model.manifest.task.is_classification:
        sums = out.sum(axis=1)
        if (out < -1e-4).any() or not np.allclose(sums, 1.0, atol=1e-3):
            failures.append("classifier outputs are not probabilities (rows must sum to 1)")
    if failures:
        raise ConformanceError(what, failures)
    return out


def _copy_rows(rows: ModelRows) -> ModelRows:
    if isinstance(rows, FeatureBatch):
        return FeatureBatch(rows.matrix.copy(), {
            k: v.copy() if isinstance(v, np.ndarray) else [
                a.copy() if isinstance(a, np.ndarray) else a for a in v]
            for k, v in rows.columns.items()})
    return rows.copy()


def _same_rows(a: ModelRows, b: ModelRows) -> bool:
    if isinstance(a, FeatureBatch) and isinstance(b, FeatureBatch):
        return bool(np.array_equal(a.matrix, b.matrix)) and all(
            np.array_equal(a.columns[k], b.columns[k]) if isinstance(a.columns[k], np.ndarray)
            else all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
                     for x, y in zip(a.columns[k], b.columns[k], strict=True))
            for k in a.columns)
    return bool(np.array_equal(a, b))  # type: ignore[arg-type]


def _as_batch(batch: Any) -> Any:
    """A DataFrame becomes a dict of column arrays; arrays and mappings pass through."""
    if hasattr(batch, "columns") and hasattr(batch, "to_numpy"):
        return {str(c): batch[c].to_numpy() for c in batch.columns}
    return batch


def _rows(batch: Any) -> int:
    if isinstance(batch, Mapping):
        return len(next(iter(batch.values()))) if batch else 0
    return len(batch)


def _copy(batch: Any) -> Any:
    if isinstance(batch, Mapping):
        return {k: np.array(v, copy=True) for k, v in batch.items()}
    return np.array(batch, copy=True)


def _slice(batch: Any, part: slice) -> Any:
    if isinstance(batch, Mapping):
        return {k: np.asarray(v)[part].copy() for k, v in batch.items()}
    return np.asarray(batch)[part].copy()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(
            np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a
        )
    return bool(np.array_equal(a, b))


def check_tensor_processor(
    processor: Callable[[Any], object], manifest: Manifest, batch: FeatureBatch
) -> list[Bucket]:
    """Check a tensor model's pre processor on a batch; returns its output as buckets.

    The rules the scorer relies on: it returns ``{input: array}`` with one row per
    event, or :class:`~streamapp.processing.Bucket` s that hold every row exactly
    once with as many input rows as bucket rows; it does not modify its input; it
    is deterministic; and a row's inputs do not depend on its neighbours beyond
    padding (the first row alone gives the same model inputs, up to trailing
    padding). Raises :class:`ConformanceError` naming each broken rule.
    """
    what = f"pre processor {getattr(processor, '__name__', type(processor).__name__)}"
    columns = processor_columns(manifest, batch)
    snapshot = _copy_rows(batch)
    assert isinstance(snapshot, FeatureBatch)
    try:
        first = _as_buckets(processor(columns), len(batch))
    except Exception as exc:
        raise ConformanceError(what, [f"raised {type(exc).__name__}: {exc}"]) from exc
    failures: list[str] = []
    seen = np.zeros(len(batch), dtype=np.int64)
    for bucket in first:
        np.add.at(seen, np.asarray(bucket.rows, dtype=np.intp), 1)
        for name, array in bucket.inputs.items():
            if len(array) != len(bucket.rows):
                failures.append(f"input {name!r} has {len(array)} rows for "
                                f"{len(bucket.rows)} events")
    if not (seen == 1).all():
        failures.append("buckets must hold every row of the batch exactly once")
    if not _same_rows(batch, snapshot):
        failures.append("modified its input in place")
    again = _as_buckets(processor(processor_columns(manifest, snapshot)), len(batch))
    if not _same_buckets(first, again):
        failures.append("not deterministic: two calls on the same batch differ")
    if len(batch) > 1 and not failures:
        alone = _as_buckets(processor(processor_columns(manifest, snapshot[0:1])), 1)
        row = next(b for b in first if 0 in np.asarray(b.rows).tolist())
        at = int(np.flatnonzero(np.asarray(row.rows) == 0)[0])
        for name, array in alone[0].inputs.items():
            mine, theirs = np.asarray(array)[0], np.asarray(row.inputs[name])[at]
            width = min(mine.shape[-1], theirs.shape[-1]) if mine.ndim else 0
            if mine.shape[:-1] != theirs.shape[:-1] or not np.array_equal(
                    mine[..., :width], theirs[..., :width]):
                failures.append(f"input {name!r} of row 0 depends on the other rows")
    if failures:
        raise ConformanceError(what, failures)
    return first


def _as_buckets(made: object, rows: int) -> list[Bucket]:
    if isinstance(made, list) and all(isinstance(b, Bucket) for b in made):
        return made
    if isinstance(made, dict):
        inputs = {k: np.asarray(v) for k, v in made.items()}
        return [Bucket(np.arange(rows, dtype=np.int64), inputs)]
    raise TypeError(f"returned {type(made).__name__}; return {{input: array}} or a list of Bucket")


def _same_buckets(a: list[Bucket], b: list[Bucket]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.rows, y.rows) and x.inputs.keys() == y.inputs.keys()
        and all(np.array_equal(x.inputs[k], y.inputs[k]) for k in x.inputs)
        for x, y in zip(a, b, strict=True))
