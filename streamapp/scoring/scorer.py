"""Run a model on a batch and isolate poisoned rows by bisection.

A model call that raises (or returns non-finite values) on a batch is retried on
its halves until the failing rows are single events; the rest of the batch is
scored normally and only the poisoned rows become ``model_error`` dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamapp.runtime.base import FloatMatrix, ScoringModel


@dataclass
class ScoreResult:
    """Outputs for the rows that scored, by row index, and ``(index, detail)`` for the rest."""

    outputs: FloatMatrix
    ok_rows: list[int]
    failed: list[tuple[int, str]]
    calls: int


def score_batch(model: ScoringModel, matrix: FloatMatrix) -> ScoreResult:
    """Score ``matrix``; never raises: failing rows are isolated and reported in ``failed``.

    Runs in a scorer-pool thread; a healthy batch costs one model call, ``k``
    poisoned rows cost about ``2k log2(n)`` calls.
    """
    width = model.manifest.output.width
    outputs = np.empty((len(matrix), width), dtype=np.float32)
    ok = np.zeros(len(matrix), dtype=bool)
    failed: list[tuple[int, str]] = []
    calls = 0
    stack: list[tuple[int, int]] = [(0, len(matrix))] if len(matrix) else []
    while stack:
        lo, hi = stack.pop()
        calls += 1
        error = _try(model, matrix[lo:hi], width)
        if isinstance(error, str):
            if hi - lo == 1:
                failed.append((lo, error))
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


def _try(model: ScoringModel, rows: FloatMatrix, width: int) -> FloatMatrix | str:
    """The model's output for ``rows``, or a short error description."""
    try:
        out = model.predict(rows)
    except Exception as exc:  # any runtime error: isolate by bisection
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    if out.shape != (len(rows), width):
        return f"model returned shape {out.shape}, expected {(len(rows), width)}"
    if not np.isfinite(out).all():
        return "model returned non-finite outputs"
    return out
