"""One retraining run: train on recent outcomes, compare with the serving version, promote.

The candidate is trained by the serving version's trainer (``manifest.trainer``,
an import path; the torch MLP by default; see :mod:`streamapp.training.contract`)
with the same feature encoding, registered as the next version, evaluated
together with the serving version (loaded through the scorer's own loader) on
the same held-out slice, and promoted only when
:func:`streamapp.retrain.policy.judge` says it is better.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streamapp.registry.manifest import Task
from streamapp.registry.registry import ModelRegistry, ModelVersion
from streamapp.retrain.dataset import build_training_set
from streamapp.retrain.policy import Evaluation, Judgement, judge
from streamapp.runtime.loader import load_model
from streamapp.schemas import JoinedOutcome, RetrainRequest
from streamapp.settings.retrain import RetrainSettings
from streamapp.statistics.heldout import evaluate
from streamapp.training.contract import DEFAULT_TRAINER, TrainingJob, load_trainer

ProgressFn = Callable[[int, int], None]


class RetrainError(RuntimeError):
    """The run could not train or evaluate (too little usable data, bad serving version)."""


@dataclass(frozen=True)
class RetrainResult:
    """What one run did: the evaluation, the decision and the version it registered."""

    model: str
    serving_version: str
    version: str | None
    evaluation: Evaluation
    decision: Judgement
    n_train: int
    promoted_to: str | None


def evaluation_for(
    task: Task, candidate: dict[str, float], serving: dict[str, float], n_eval: int
) -> Evaluation:
    """The headline comparison: accuracy (classification) or relative RMSE (regression)."""
    if task.is_classification:
        return Evaluation("accuracy", candidate["accuracy"], serving["accuracy"], n_eval)
    return Evaluation(
        "rmse", candidate["rmse"], serving["rmse"], n_eval, higher_is_better=False, relative=True
    )


def retrain(
    registry: ModelRegistry,
    serving: ModelVersion,
    request: RetrainRequest,
    outcomes: Sequence[JoinedOutcome],
    settings: RetrainSettings,
    progress: ProgressFn | None = None,
) -> RetrainResult:
    """Train, evaluate against ``serving``, register and maybe promote; raises RetrainError."""
    manifest = serving.manifest
    if manifest.is_tensor_model and manifest.trainer is None:
        raise RetrainError(
            f"{serving.name}: a model with tensor, text or bytes features retrains only with its "
            "own trainer (manifest.trainer): joined outcomes carry its inputs' sketches, not the "
            "inputs, and the default trainer fits scalar features"
        )
    data = build_training_set(outcomes, manifest, settings.eval_share)
    if len(data.x_train) < 2 or len(data.x_eval) < 1:
        raise RetrainError(
            f"{serving.name}: {len(data.x_train)} training / {len(data.x_eval)} held-out rows "
            f"({data.rejected} rejected) — not enough to train"
        )
    serving_model = load_model(serving, "auto", "cpu")
    try:
        serving_metrics = evaluate(manifest.task, serving_model.predict(data.x_eval), data.y_eval)
    finally:
        serving_model.close()
    version = registry.next_version(manifest.name)
    info: dict[str, str | int | float] = {
        "generator": "streamapp.retrain",
        "parent_version": serving.version,
        "request": request.idempotency_key,
        "reason": request.reason.value,
        "seed": settings.seed,
        "n_train": len(data.x_train),
        "n_test": len(data.x_eval),
    }
    job = TrainingJob(
        registry, serving, version, data, settings.seed, settings.epochs, info, progress
    )
    try:
        trained = load_trainer(manifest.trainer)(job)
    except Exception as exc:  # any trainer failure fails this request, never the service
        raise RetrainError(
            f"{serving.name}: trainer {manifest.trainer or DEFAULT_TRAINER} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    made = trained.version
    evaluation = evaluation_for(manifest.task, trained.metrics, serving_metrics, len(data.x_eval))
    decision = judge(evaluation, settings.min_improvement, settings.min_eval_samples)
    promoted_to = None
    if decision.promote:
        load_model(made, "auto", "cpu").close()  # the scorer must be able to load it
        registry.promote(made.name, made.version, settings.promote_to)
        promoted_to = settings.promote_to
    return RetrainResult(
        model=manifest.name,
        serving_version=serving.version,
        version=made.version,
        evaluation=evaluation,
        decision=decision,
        n_train=len(data.x_train),
        promoted_to=promoted_to,
    )
