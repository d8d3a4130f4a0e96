"""Seeded synthetic data from river's generators: the demo models' training data and traffic.

Agrawal (binary classification, nine features, ten classification functions to
switch between for concept drift) and Friedman (regression, ten uniform features).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from river.datasets import synth

from streamapp.registry.manifest import FeatureSpec, Task

AGRAWAL_MODEL = "agrawal-clf"
FRIEDMAN_MODEL = "friedman-reg"

AGRAWAL_FEATURES = [
    FeatureSpec(name="salary", type="numeric", min=0.0, max=1e7),
    FeatureSpec(name="commission", type="numeric", min=0.0, max=1e7),
    FeatureSpec(name="age", type="numeric", min=0.0, max=130.0),
    FeatureSpec(name="elevel", type="categorical", categories=[0, 1, 2, 3, 4]),
    FeatureSpec(name="car", type="categorical", categories=list(range(1, 21))),
    FeatureSpec(name="zipcode", type="categorical", categories=list(range(9))),
    FeatureSpec(name="hvalue", type="numeric", min=0.0, max=1e8),
    FeatureSpec(name="hyears", type="numeric", min=0.0, max=100.0),
    FeatureSpec(name="loan", type="numeric", min=0.0, max=1e8),
]
AGRAWAL_CLASSES: list[int | str] = [0, 1]

FRIEDMAN_FEATURES = [
    FeatureSpec(name=f"x{i}", type="numeric", min=-10.0, max=10.0) for i in range(10)
]

TASKS = {AGRAWAL_MODEL: Task.BINARY, FRIEDMAN_MODEL: Task.REGRESSION}

Sample = tuple[dict[str, float | int], float | int]


def agrawal(n: int, seed: int, function: int = 0, perturbation: float = 0.0) -> Iterator[Sample]:
    """``n`` Agrawal samples (features, label 0/1) from classification function ``function``."""
    gen = synth.Agrawal(classification_function=function, seed=seed, perturbation=perturbation)
    for x, y in islice(gen, n):
        yield {k: v for k, v in x.items()}, int(y)


def friedman(n: int, seed: int) -> Iterator[Sample]:
    """``n`` Friedman #1 samples with features named x0..x9."""
    for x, y in islice(synth.Friedman(seed=seed), n):
        yield {f"x{k}": float(v) for k, v in x.items()}, float(y)
