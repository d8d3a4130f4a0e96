"""Run a model on a batch and isolate poisoned rows by bisection.

A model call that raises (or returns non-finite values) on a batch is retried on
its halves until the failing rows are single events; the rest of the batch is
scored normally and only the poisoned rows become ``model_error`` dead letters.
A pre processor that names bad rows (:class:`~streamapp.processing.RowErrors`) gets
them dead-lettered with its reasons and the rest of the range scored, no bisection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamapp.processing import RowErrors
from streamapp.runtime.base import FloatMatrix, ModelRows, ScoringModel
from streamapp.schemas import DeadLetterReason


@dataclass
class ScoreResult:
    """Outputs for the rows that scored, by row index, and ``(index, reason, detail)`` for
    the rest (``model_error``, or a pre processor's reason)."""

    outputs: FloatMatrix
    ok_rows: list[int]
    failed: list[tuple[int, DeadLetterReason, str]]
    calls: int


def score_batch(model: ScoringModel, matrix: ModelRows) -> ScoreResult:
    """Score ``matrix``; never raises: failing rows are isolated and reported in ``failed``.

    Runs in a scorer-pool thread; a healthy batch costs one model call, ``k``
    poisoned rows cost about ``2k log2(n)`` calls.
    """
    width = model.manifest.output.width
    outputs = np.empty((len(matrix), width), dtype=np.float32)
    ok = np.zeros(len(matrix), dtype=bool)
    failed: list[tuple[int, DeadLetterReason, str]] = []
    calls = 0
    stack: list[tuple[int, int]] = [(0, len(matrix))] if len(matrix) else []
    while stack:
        lo, hi = stack.pop()
        calls += 1
        error = _try(model, matrix[lo:hi], width)
        if isinstance(error, RowErrors):
            stack.extend(_named(error, lo, hi, failed))
            continue
        if isinstance(error, str):
            if hi - lo == 1:
                failed.append((lo, DeadLetterReason.MODEL_ERROR, error))
            else:
                mid = (lo + hi) // 2
                stack.append((mid, hi))
                stack.append((lo, mid))
            continue
        outputs[lo:hi] = error
        ok[lo:hi] = True
    if not failed:
        return ScoreResult(outputs=outputs, ok_rows=list(range(len(matrix))), failed=[],
                           calls=calls)
    failed.sort()
    rows: list[int] = np.flatnonzero(ok).tolist()
    return ScoreResult(outputs=outputs[ok], ok_rows=rows, failed=failed, calls=calls)


def _named(
    error: RowErrors, lo: int, hi: int, failed: list[tuple[int, DeadLetterReason, str]]
) -> list[tuple[int, int]]:
    """Record the rows a processor named (offsets into ``[lo, hi)``) as failed; the runs of
    rows between them, to score again. A processor naming no valid row is a model error."""
    bad = sorted(r for r in error.errors if 0 <= r < hi - lo)
    if not bad:
        return [(lo, lo + 1)] if hi - lo == 1 else [((lo + hi) // 2, hi), (lo, (lo + hi) // 2)]
    for r in bad:
        reason, detail = error.errors[r]
        failed.append((lo + r, reason, detail))
    runs: list[tuple[int, int]] = []
    start = lo
    for r in bad:
        if lo + r > start:
            runs.append((start, lo + r))
        start = lo + r + 1
    if start < hi:
        runs.append((start, hi))
    return runs


def _try(model: ScoringModel, rows: ModelRows, width: int) -> FloatMatrix | RowErrors | str:
    """The model's output for ``rows``, the processor's named bad rows, or a short error
    description."""
    try:
        out = model.score(rows)
    except RowErrors as exc:
        return exc
    except Exception as exc:  # any runtime error: isolate by bisection
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    if out.shape != (len(rows), width):
        return f"model returned shape {out.shape}, expected {(len(rows), width)}"
    if not np.isfinite(out).all():
        return "model returned non-finite outputs"
    return out
