"""Train the two demo models, seeded: an Agrawal classifier and a Friedman regressor.

``streamapp models train-demo`` calls :func:`train_demo_models`. Same seed, same
data, same weights: training runs single-threaded with fixed seeds, so the
predictions (and in practice the artifact checksums) are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from streamapp.features import FeatureEncoder
from streamapp.registry.manifest import Task
from streamapp.registry.registry import ModelRegistry, ModelVersion
from streamapp.training.synthetic import (
    AGRAWAL_CLASSES,
    AGRAWAL_FEATURES,
    AGRAWAL_MODEL,
    FRIEDMAN_FEATURES,
    FRIEDMAN_MODEL,
    Sample,
    agrawal,
    friedman,
)
from streamapp.training.trainer import TrainSpec, evaluate, export_version, predict, train

DEMO_SEED = 7
AGRAWAL_FUNCTION = 0
N_TRAIN = 16000
N_TEST = 4000

StatusFn = Callable[[str, int, int], None]


def train_demo_models(
    registry: ModelRegistry,
    seed: int = DEMO_SEED,
    version: str = "1",
    status: StatusFn | None = None,
    promote: bool = True,
) -> list[ModelVersion]:
    """Train and export both demo models as ``version``; point ``production`` at them."""
    made = []
    jobs: list[tuple[TrainSpec, list[Sample], dict[str, str | int | float]]] = [
        (
            TrainSpec(
                name=AGRAWAL_MODEL,
                task=Task.BINARY,
                features=AGRAWAL_FEATURES,
                classes=AGRAWAL_CLASSES,
                seed=seed,
                epochs=25,
            ),
            list(agrawal(N_TRAIN + N_TEST, seed=seed, function=AGRAWAL_FUNCTION)),
            {"generator": "river.synth.Agrawal", "function": AGRAWAL_FUNCTION},
        ),
        (
            TrainSpec(
                name=FRIEDMAN_MODEL,
                task=Task.REGRESSION,
                features=FRIEDMAN_FEATURES,
                seed=seed,
                epochs=40,
            ),
            list(friedman(N_TRAIN + N_TEST, seed=seed)),
            {"generator": "river.synth.Friedman"},
        ),
    ]
    for spec, samples, info in jobs:
        encoder = FeatureEncoder(spec.features)
        x = encoder.encode_many(s[0] for s in samples)
        y = np.asarray([s[1] for s in samples])
        x_train, x_test, y_train, y_test = x[:N_TRAIN], x[N_TRAIN:], y[:N_TRAIN], y[N_TRAIN:]

        def report(done: int, total: int, name: str = spec.name) -> None:
            if status is not None:
                status(name, done, total)

        net = train(spec, x_train, y_train, progress=report)
        metrics = evaluate(spec.task, predict(net, x_test), y_test)
        training_info: dict[str, str | int | float] = {
            **info,
            "seed": seed,
            "n_train": N_TRAIN,
            "n_test": N_TEST,
        }
        made.append(export_version(registry, spec, version, net, x_train, metrics, training_info,
                                   x_holdout=x_test))
        if promote:
            registry.promote(spec.name, version)
    return made
