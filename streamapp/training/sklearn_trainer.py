"""Gradient boosting (or the registered scikit-learn-API estimator) exported to ONNX.

The estimator is the one the serving version was registered from
(``training.estimator`` and its JSON hyperparameters in the manifest, e.g. a
``GradientBoostingRegressor`` or an ``LGBMClassifier``), else scikit-learn's
``GradientBoostingClassifier`` / ``GradientBoostingRegressor``. It is fitted on
the pre processor's output when the version has one, converted and validated by
:func:`streamapp.registration.register`, so a model registered from sklearn
retrains as sklearn. Runs in the retrainer process; needs the ``register`` extra.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.labels import ClassMap
from streamapp.plugins import load_object
from streamapp.processing import load_callable
from streamapp.registry.manifest import Manifest
from streamapp.statistics.heldout import evaluate
from streamapp.training.contract import TrainerError, TrainingJob, TrainResult

DEFAULTS = {
    True: "sklearn.ensemble:GradientBoostingClassifier",
    False: "sklearn.ensemble:GradientBoostingRegressor",
}


def train(job: TrainingJob) -> TrainResult:
    """Fit, evaluate on the held-out rows, and register ``job.version`` with them as its
    holdout (profile and estimator from rows the estimator was not fitted on)."""
    import pandas as pd

    from streamapp.registration import register

    manifest = job.serving.manifest
    data = job.data
    estimator = _estimator(manifest, job.seed)
    classes = manifest.output.classes
    y_train: npt.NDArray[Any] = data.y_train
    if classes is not None:
        present = np.unique(data.y_train)
        if len(present) != len(classes):
            raise TrainerError(
                f"{manifest.name}: training rows hold {len(present)} of {len(classes)} classes"
            )
        y_train = _labels(classes, data.y_train)
    estimator.fit(_inputs(job, data.x_train), y_train, sample_weight=data.w_train)
    outputs = _outputs(estimator, job, data.x_eval)
    metrics = evaluate(manifest.task, outputs, _eval_y(estimator, job))
    if job.progress is not None:
        job.progress(1, 1)
    made = register(
        estimator,
        pd.DataFrame(job.columns(data.x_train)),
        y_train,
        name=manifest.name,
        registry=job.registry,
        features=manifest.features,
        holdout=pd.DataFrame(job.columns(data.x_eval)),
        y_holdout=_labels(classes, data.y_eval),
        pre=manifest.processing.pre if manifest.processing else None,
        trainer=manifest.trainer,
        promote=None,
        seed=job.seed,
        baseline=metrics,
        provenance=job.info,
    )
    if made.version.version != job.version:
        raise TrainerError(f"registered {made.version.version}, expected {job.version}")
    return TrainResult(made.version, metrics)


def _labels(classes: list[Any] | None, y: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Class values of class indexes (classifiers), or the regression targets as they are."""
    return y if classes is None else np.asarray(classes)[y]


def _estimator(manifest: Manifest, seed: int) -> Any:
    """The registered estimator class with its hyperparameters, or the default gradient boosting
    (also for estimators that cannot be rebuilt from scalars, such as a Pipeline)."""
    path = str(manifest.training.get("estimator", ""))
    rebuildable = "estimator_params" in manifest.training
    if path.split(".")[0] not in ("sklearn", "lightgbm", "xgboost") or not rebuildable:
        path = DEFAULTS[manifest.task.is_classification]
        params: dict[str, Any] = {"random_state": seed}
    else:
        params = json.loads(str(manifest.training.get("estimator_params", "{}")))
    cls = load_object(path, "estimator")
    if not callable(cls):
        raise TrainerError(f"estimator {path!r} is not a class")
    return cls(**params)


def _inputs(job: TrainingJob, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    processing = job.serving.manifest.processing
    if processing is None or processing.pre is None:
        return x
    pre = load_callable(processing.pre, "pre processor")
    return np.asarray(pre(job.columns(x)), dtype=np.float32)


def _outputs(estimator: Any, job: TrainingJob, x: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
    inputs = _inputs(job, x)
    if job.serving.manifest.task.is_classification:
        return np.asarray(estimator.predict_proba(inputs))
    return np.asarray(estimator.predict(inputs)).reshape(-1, 1)


def _eval_y(estimator: Any, job: TrainingJob) -> npt.NDArray[Any]:
    """Held-out targets in the estimator's output order (its ``classes_`` may be sorted)."""
    classes = job.serving.manifest.output.classes
    if classes is None:
        return job.data.y_eval
    order = ClassMap(list(estimator.classes_))
    return np.asarray([order.require(classes[i]) for i in job.data.y_eval], dtype=np.int64)
