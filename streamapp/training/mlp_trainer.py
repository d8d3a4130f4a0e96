"""The reference trainer: a seeded torch MLP exported to ONNX and TorchScript."""

from __future__ import annotations

from streamapp.training.contract import TrainerError, TrainingJob, TrainResult
from streamapp.training.trainer import TrainSpec, evaluate, export_version, predict
from streamapp.training.trainer import train as fit


def train(job: TrainingJob) -> TrainResult:
    """Fit a :class:`TabularMLP` on ``job.data`` and register it (same features and task)."""
    manifest = job.serving.manifest
    if manifest.processing is not None:
        raise TrainerError(
            f"{manifest.name}: the MLP trainer does not run pre/post processors; "
            "name a trainer that does (e.g. streamapp.training.sklearn_trainer:train)"
        )
    spec = TrainSpec(
        name=manifest.name,
        task=manifest.task,
        features=list(manifest.features),
        classes=manifest.output.classes,
        epochs=job.epochs,
        seed=job.seed,
    )
    data = job.data
    net = fit(spec, data.x_train, data.y_train, progress=job.progress)
    metrics = evaluate(manifest.task, predict(net, data.x_eval), data.y_eval)
    made = export_version(
        job.registry, spec, job.version, net, data.x_train, metrics, job.info, manifest.trainer,
        x_holdout=data.x_eval if len(data.x_eval) else None,
    )
    return TrainResult(made, metrics)
