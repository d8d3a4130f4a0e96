"""Tree splits for float32 inputs: thresholds rounded down to float32.

The scorer feeds a model float32 features. A tree that splits on ``x <= t`` with
a float64 ``t`` (HistGradientBoosting, LightGBM) sends a float32 ``x`` by
comparing it with ``t`` exactly; the ONNX tree ensemble stores ``t`` rounded to
the *nearest* float32, which may lie above ``t``: a float32 input between the two
goes the other way (training values and midpoints between two float32 values
land there). The largest float32 not above ``t`` splits every float32 input as
the model does, so the converters get a copy with such thresholds.
scikit-learn's own trees fit on float32 and skl2onnx adjusts their thresholds;
XGBoost keeps float32 thresholds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def float32_below(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The largest float32 not above each value: ``x <= t`` and ``x <= float32_below(t)``
    agree for every float32 ``x``.

    >>> float32_below(np.array([106.79999923706055, 0.5])).tolist()
    [106.79999542236328, 0.5]
    """
    with np.errstate(over="ignore"):
        near = values.astype(np.float32)
    above = near.astype(np.float64) > values
    near[above] = np.nextafter(near[above], np.float32(-np.inf))
    return near.astype(np.float64)


def lightgbm_model_text(text: str) -> str:
    """A LightGBM model (text format) whose numerical splits have float32 thresholds.

    Categorical splits (``decision_type`` bit 0) keep theirs (category set indices);
    the ``tree_sizes`` header goes (LightGBM reads the trees in order without it).

    >>> lightgbm_model_text("threshold=106.79999923706055 3\\ndecision_type=2 1")
    'threshold=106.79999542236328 3\\ndecision_type=2 1'
    """
    lines = text.split("\n")
    at: int | None = None
    for i, line in enumerate(lines):
        if line.startswith("tree_sizes="):
            lines[i] = ""  # byte sizes of the trees, which change
        elif line.startswith("threshold="):
            at = i
        elif line.startswith("decision_type=") and at is not None:
            kinds = [int(k) for k in line.partition("=")[2].split()]
            values = lines[at].partition("=")[2].split()
            down = float32_below(np.array(values, dtype=np.float64))
            lines[at] = "threshold=" + " ".join(
                v if kind & 1 else repr(float(d))
                for v, kind, d in zip(values, kinds, down, strict=True)
            )
            at = None
    return "\n".join(lines)


def round_hist_predictors(predictors: list[list[Any]]) -> None:
    """Round the numerical split thresholds of a fitted HistGradientBoosting model's
    ``_predictors`` (one list of trees per iteration) down to float32, in place."""
    for per_iteration in predictors:
        for predictor in per_iteration:
            nodes = predictor.nodes
            split = nodes["is_leaf"] == 0
            if "is_categorical" in (nodes.dtype.names or ()):
                split &= nodes["is_categorical"] == 0
            nodes["num_threshold"][split] = float32_below(nodes["num_threshold"][split])
