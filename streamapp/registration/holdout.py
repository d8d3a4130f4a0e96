"""Held-out rows for a registration, and the check that the reference is not the training data.

Baseline metrics, the label-free estimator's calibration and the drift profile
must describe what the model does on rows it was not fitted on: on its own
training rows a tree ensemble is right far more often, and far more confident,
than on live traffic, so an in-sample baseline makes the accuracy trigger fire
on stationary data and the estimate read high. :func:`held_out` reads the rows
``register(holdout=...)`` / ``--holdout FILE`` names. Without them,
:func:`in_sample_gap` refits a clone of a scikit-learn-API model (scikit-learn,
LightGBM, XGBoost, pipelines) by 3-fold cross-validation on up to
:data:`CHECK_ROWS` reference rows and compares: a clear gap means the reference is
(mostly) the training data, and :func:`warn_in_sample` says so with the fix.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.registration.frame import RegistrationError, as_frame, encode_frame, read_table
from streamapp.registry.manifest import FeatureSpec, Task

log = logging.getLogger(__name__)

CHECK_ROWS = 2_000
"""Reference rows the in-sample check refits on (3 folds), at most."""
MIN_CHECK_ROWS = 60
ACCURACY_GAP = 0.02
"""In-sample accuracy this far (and 3 standard errors) above cross-validated: suspicious."""
ERROR_RATIO = 1.1
"""Cross-validated MAE this many times the in-sample MAE: suspicious."""


class InSampleWarning(UserWarning):
    """The reference data looks like the model's training data (see the module)."""


@dataclass(frozen=True)
class Held:
    """Encoded held-out rows and their raw labels (None: unlabelled)."""

    x: npt.NDArray[np.float32]
    y: Any


@dataclass(frozen=True)
class Gap:
    """In-sample vs cross-validated performance on the same reference rows."""

    metric: str
    """``accuracy`` (higher is better) or ``mae``."""
    in_sample: float
    cross_validated: float
    rows: int

    @property
    def suspicious(self) -> bool:
        """The model scores clearly better on the reference than a refit scores out of fold."""
        if self.metric == "accuracy":
            p = min(max(self.cross_validated, 1e-6), 1 - 1e-6)
            se = math.sqrt(p * (1 - p) / max(self.rows, 1))
            return self.in_sample - self.cross_validated > max(ACCURACY_GAP, 3 * se)
        return self.cross_validated > ERROR_RATIO * max(self.in_sample, 1e-12)


def held_out(
    holdout: Any, y_holdout: Any, label_column: str | None, specs: Sequence[FeatureSpec]
) -> Held | None:
    """The encoded ``holdout`` rows (DataFrame, dict of columns, array, CSV / Parquet path) and
    labels (a sequence, a column name, or ``label_column`` when the file has it); raises
    :class:`RegistrationError` naming what does not fit the reference's feature specs."""
    if holdout is None:
        if y_holdout is not None:
            raise RegistrationError("y_holdout needs holdout (the held-out rows)")
        return None
    if isinstance(holdout, str | Path):
        frame = read_table(Path(holdout))
    elif isinstance(holdout, Mapping) or hasattr(holdout, "columns"):
        frame = as_frame(holdout)
    else:
        frame = as_frame(holdout, [s.name for s in specs])
    column = y_holdout if isinstance(y_holdout, str) else None
    if column is None and y_holdout is None and label_column in frame.columns:
        column = label_column
    y = y_holdout
    if column is not None:
        if column not in frame.columns:
            raise RegistrationError(f"label column {column!r} is not in the holdout data")
        frame, y = frame.drop(columns=[column]), frame[column].to_numpy()
    if y is not None and len(y) != len(frame):
        raise RegistrationError(f"{len(y)} holdout labels for {len(frame)} holdout rows")
    if len(frame) == 0:
        raise RegistrationError("the holdout data has no rows")
    try:
        x = encode_frame(frame, specs)
    except RegistrationError as exc:
        raise RegistrationError(f"holdout: {exc}") from None
    return Held(x, y)


def in_sample_gap(model: Any, x: npt.NDArray[np.float32], y: Any, task: Task,
                  seed: int) -> Gap | None:
    """In-sample vs 3-fold cross-validated score of a scikit-learn-API ``model`` on up to
    :data:`CHECK_ROWS` of the rows ``x`` (the model's input); None for other models, too few
    rows, or when the refit fails (the check is advisory: logged at DEBUG)."""
    if not (hasattr(model, "get_params") and hasattr(model, "fit")) or len(x) < MIN_CHECK_ROWS:
        return None
    try:
        from sklearn.base import clone
        from sklearn.model_selection import KFold, cross_val_predict

        rng = np.random.default_rng(seed)
        rows = rng.choice(len(x), size=min(len(x), CHECK_ROWS), replace=False)
        xs, ys = x[rows], np.asarray(y)[rows]
        folds = KFold(n_splits=3, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = np.asarray(model.predict(xs))
            crossed = np.asarray(cross_val_predict(clone(model), xs, ys, cv=folds))
    except Exception as exc:  # advisory: any refit problem only skips the check
        log.debug("in-sample check skipped: %s", exc)
        return None
    if task.is_classification:
        return Gap("accuracy", float(np.mean(fitted == ys)), float(np.mean(crossed == ys)),
                   len(rows))
    truth = ys.astype(np.float64)
    return Gap("mae", float(np.mean(np.abs(fitted.reshape(-1) - truth))),
               float(np.mean(np.abs(crossed.reshape(-1) - truth))), len(rows))


def warn_in_sample(gap: Gap) -> None:
    """One :class:`InSampleWarning` naming the gap and the fix."""
    warnings.warn(
        f"the reference data looks like the model's training data: {gap.metric} "
        f"{gap.in_sample:.3f} on it against {gap.cross_validated:.3f} cross-validated "
        f"({gap.rows} rows), so the baseline metrics, the label-free estimate and the drift "
        "profile would be optimistic and the accuracy or error trigger would fire on stationary "
        "data; "
        "pass rows the model was not fitted on as holdout= (CLI: --holdout FILE)",
        InSampleWarning,
        stacklevel=3,
    )


def baseline_provenance(held: Held | None, gap: Gap | None,
                        given: bool) -> dict[str, str | int | float]:
    """What the baseline was measured on, for the manifest's ``training`` field."""
    out: dict[str, str | int | float] = {
        "baseline": "given" if given else "holdout" if held is not None else "reference split"
    }
    if held is not None:
        out["holdout_rows"] = len(held.x)
    if gap is not None:
        out[f"in_sample_{gap.metric}"] = round(gap.in_sample, 6)
        out[f"cross_validated_{gap.metric}"] = round(gap.cross_validated, 6)
    return out
