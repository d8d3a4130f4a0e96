"""Training data from joined outcomes, encoded with the scorer's own :class:`FeatureEncoder`.

Outcomes are deduplicated by event id (the last one wins), filtered to the
incident's time range, and split into train / held-out by a deterministic hash
of the event id, so a replay builds exactly the same sets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt

from streamapp.features import FeatureEncoder, FeatureError
from streamapp.labels import ClassMap, regression_target
from streamapp.registry.manifest import Manifest
from streamapp.sampling import selected
from streamapp.schemas import JoinedOutcome
from streamapp.training.contract import TrainingSet

SALT_EVAL = "retrain-eval"


def recent(
    outcomes: Iterable[JoinedOutcome], model: str, since: datetime, limit: int
) -> list[JoinedOutcome]:
    """The newest ``limit`` distinct outcomes of ``model`` with ``event_time >= since``."""
    latest: dict[str, JoinedOutcome] = {}
    for outcome in outcomes:
        if outcome.model_name == model and outcome.event_time >= since:
            latest[outcome.event_id] = outcome
    ordered = sorted(latest.values(), key=lambda o: (o.event_time, o.event_id))
    return ordered[-limit:] if limit > 0 else []


def label_target(manifest: Manifest) -> Callable[[object], float | int]:
    """The label → training target function of a manifest (class index or float).

    The function raises ``ValueError`` for a label the manifest does not know.
    """
    classes = manifest.output.classes
    if classes is not None:
        return ClassMap(classes).require

    def regression(label: object) -> float:
        value = regression_target(label)
        if value is None:
            raise ValueError(f"regression label must be a finite number, got {label!r}")
        return value

    return regression


def target(manifest: Manifest, label: object) -> float | int:
    """A label as a training target: class index (classification) or float (regression).

    Raises ``ValueError`` for a label the manifest does not know.
    """
    return label_target(manifest)(label)


def build_training_set(
    outcomes: Sequence[JoinedOutcome], manifest: Manifest, eval_share: float
) -> TrainingSet:
    """Encode outcomes and split them deterministically into train and held-out rows."""
    encoder = FeatureEncoder(manifest.features, allow_extra=True)
    rows: tuple[list[list[float]], list[list[float]]] = ([], [])
    ys: tuple[list[float | int], list[float | int]] = ([], [])
    times: tuple[list[float], list[float]] = ([], [])
    rejected = 0
    to_target = label_target(manifest)
    for outcome in outcomes:
        try:
            row = encoder.encode(outcome.features)
            y = to_target(outcome.label)
        except (FeatureError, ValueError):
            rejected += 1
            continue
        part = 1 if selected(outcome.event_id, SALT_EVAL, eval_share) else 0
        rows[part].append(row)
        ys[part].append(y)
        times[part].append(outcome.event_time.timestamp())
    width = len(manifest.features)
    y_train: npt.NDArray[np.float32] | npt.NDArray[np.int64]
    y_eval: npt.NDArray[np.float32] | npt.NDArray[np.int64]
    if manifest.task.is_classification:
        y_train, y_eval = np.asarray(ys[0], np.int64), np.asarray(ys[1], np.int64)
    else:
        y_train, y_eval = np.asarray(ys[0], np.float32), np.asarray(ys[1], np.float32)
    return TrainingSet(
        x_train=np.asarray(rows[0], dtype=np.float32).reshape(-1, width),
        y_train=y_train,
        x_eval=np.asarray(rows[1], dtype=np.float32).reshape(-1, width),
        y_eval=y_eval,
        rejected=rejected,
        t_train=np.asarray(times[0], dtype=np.float64),
        t_eval=np.asarray(times[1], dtype=np.float64),
        w_train=np.ones(len(rows[0]), dtype=np.float32),
    )
