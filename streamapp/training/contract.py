"""The trainer contract: joined outcomes in, a registered candidate version and its metrics out.

``streamapp retrain`` calls the trainer a serving version's manifest names
(``manifest.trainer``, an import path; default :data:`DEFAULT_TRAINER`) once
per retrain request, in the retrainer process (never in a scoring worker). The
trainer fits on ``job.data`` (encoded features in manifest order, targets,
event times, weights; ``job.columns`` gives the raw feature columns a ``pre``
processor takes), registers ``job.version`` with the serving version's
features, processing and trainer, and returns it with metrics on the held-out
rows (``x_eval`` / ``y_eval``; ``accuracy`` or ``rmse``, as
:func:`streamapp.statistics.heldout.evaluate` computes them). Raising
:class:`TrainerError` (or anything else) fails the request; nothing is promoted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from streamapp.plugins import load_object
from streamapp.processing import Column, columns
from streamapp.registry.registry import ModelRegistry, ModelVersion

DEFAULT_TRAINER = "streamapp.training.mlp_trainer:train"
ProgressFn = Callable[[int, int], None]


class TrainerError(RuntimeError):
    """The trainer cannot train this model on this data; the message says why."""


@dataclass(frozen=True)
class TrainingSet:
    """Encoded train and held-out rows (float32, manifest order) and their targets.

    ``streamapp.retrain.dataset.build_training_set`` builds it from joined outcomes.
    """

    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.float32] | npt.NDArray[np.int64]
    x_eval: npt.NDArray[np.float32]
    y_eval: npt.NDArray[np.float32] | npt.NDArray[np.int64]
    rejected: int
    """Outcomes dropped because their features or label did not fit the manifest."""
    t_train: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    """Event time of each training row (Unix seconds)."""
    t_eval: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    w_train: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.empty(0, dtype=np.float32)
    )
    """Sample weight of each training row (1.0 today; trainers should honour it)."""


@dataclass(frozen=True)
class TrainingJob:
    """Everything a trainer gets."""

    registry: ModelRegistry
    serving: ModelVersion
    version: str
    """The version to register (the next free one)."""
    data: TrainingSet
    seed: int = 0
    epochs: int = 40
    """Epochs for iterative trainers (ignored by others)."""
    info: dict[str, str | int | float] = field(default_factory=dict)
    """Provenance to store in the new manifest's ``training`` field."""
    progress: ProgressFn | None = None

    def columns(self, x: npt.NDArray[np.float32]) -> dict[str, Column]:
        """Encoded rows as raw feature columns (what a pre processor takes)."""
        return columns(self.serving.manifest.features, x)


@dataclass(frozen=True)
class TrainResult:
    """The registered candidate and its metrics on ``job.data.x_eval``."""

    version: ModelVersion
    metrics: dict[str, float]


Trainer = Callable[[TrainingJob], TrainResult]


def load_trainer(path: str | None) -> Trainer:
    """The trainer a manifest names (default: the torch MLP); raises ``ImportError``."""
    obj = load_object(path or DEFAULT_TRAINER, "trainer")
    if not callable(obj):
        raise TypeError(f"trainer {path!r} is not callable")
    return obj
