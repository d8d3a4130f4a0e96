"""Shared fixtures: a WordPiece tokenizer trained here on seeded sentences, and manifests."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamapp.preprocess.text import train_tokenizer
from streamapp.registry.manifest import FeatureSpec, Manifest, OutputSpec, Processing, Task

WORDS = [
    "the", "a", "stream", "model", "event", "rate", "group", "worker", "kafka", "lane",
    "offset", "label", "drift", "window", "fast", "slow", "good", "bad", "great", "terrible",
    "movie", "film", "plot", "star", "story", "ending", "song", "long", "short", "loved",
    "hated", "boring", "thrilling", "really", "not", "very", "rather", "i", "we", "they", "it",
    "was", "is", "were", "be",
]
"""Training words: no c, j, q, x, z, and no digits — words with those are partly unknown."""


def sentences(n: int, seed: int, lo: int = 3, hi: int = 25) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
        out.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", ""]))
    return out


@pytest.fixture(scope="session")
def tokenizer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tokenizer(sentences(1500, seed=7), tmp_path_factory.mktemp("tok"), 300)


def manifest(features: list[FeatureSpec], pre: str, options: dict[str, object]) -> Manifest:
    """A binary classifier over ``features`` behind the pre processor ``pre``."""
    return Manifest(
        name="m",
        version="1",
        task=Task.BINARY,
        features=features,
        output=OutputSpec(classes=[0, 1]),
        artifacts=[{"format": "onnx", "path": "model.onnx", "sha256": "0" * 64}],
        created_at=datetime.now(UTC),
        processing=Processing(pre=pre, options=options),
    )
