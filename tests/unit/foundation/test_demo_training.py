from __future__ import annotations

from pathlib import Path

import numpy as np

from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.loader import load_model, reference_rows
from tests.conftest import MODELS


def test_demo_training_is_deterministic_and_matches_committed(tmp_path: Path) -> None:
    """Same seed → same predictions as the committed artifacts (and the same checksums)."""
    from streamapp.training.demo import train_demo_models

    reg = ModelRegistry(tmp_path)
    fresh = {mv.name: mv for mv in train_demo_models(reg)}
    committed = ModelRegistry(MODELS)
    for name, mv in fresh.items():
        old = committed.resolve(name)
        rows = reference_rows(old)
        np.testing.assert_allclose(
            load_model(mv, "onnx", "cpu").predict(rows),
            load_model(old, "onnx", "cpu").predict(rows),
            atol=1e-5,
        )
        assert mv.manifest.baseline_metrics == old.manifest.baseline_metrics
        assert mv.manifest.artifacts[0].sha256 == old.manifest.artifacts[0].sha256
    assert fresh["agrawal-clf"].manifest.baseline_metrics["accuracy"] > 0.95
