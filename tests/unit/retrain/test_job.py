"""The retraining run on real data against the committed serving version (no broker)."""

from __future__ import annotations

from pathlib import Path

from streamapp.registry.registry import ModelRegistry
from streamapp.retrain.job import retrain
from streamapp.runtime.loader import load_model
from streamapp.settings.retrain import RetrainSettings
from tests.unit.retrain.outcomes import REQUEST, make_outcomes

SETTINGS = RetrainSettings(min_samples=100, min_eval_samples=50, epochs=30)


def test_drifted_data_yields_a_better_promoted_version(model_registry_dir: Path) -> None:
    registry = ModelRegistry(model_registry_dir)
    serving = registry.resolve("agrawal-clf")
    epochs: list[int] = []
    result = retrain(
        registry,
        serving,
        REQUEST,
        make_outcomes(1200, drifted=True),
        SETTINGS,
        progress=lambda done, total: epochs.append(done),
    )
    assert result.decision.promote, result.decision.reason
    assert result.version == "2" and result.promoted_to == "production"
    assert registry.pointer("agrawal-clf") == "2"
    assert result.evaluation.candidate > result.evaluation.serving + 0.2
    assert epochs == list(range(1, 31))
    new = registry.get("agrawal-clf", "2")
    assert new.manifest.training["parent_version"] == "1"
    assert new.manifest.features == serving.manifest.features
    load_model(new, "onnx", "cpu")  # the scorer can load it


def test_no_promotion_when_the_serving_version_is_as_good(model_registry_dir: Path) -> None:
    registry = ModelRegistry(model_registry_dir)
    serving = registry.resolve("agrawal-clf")
    result = retrain(registry, serving, REQUEST, make_outcomes(600, drifted=False), SETTINGS)
    assert not result.decision.promote
    assert result.promoted_to is None
    assert registry.pointer("agrawal-clf") == "1"
    rejected = registry.get("agrawal-clf", result.version or "")  # registered, not promoted
    assert rejected.manifest.training["parent_version"] == "1"
    assert "not better" in result.decision.reason


def test_canary_mode_moves_only_the_candidate_pointer(model_registry_dir: Path) -> None:
    registry = ModelRegistry(model_registry_dir)
    settings = SETTINGS.model_copy(update={"promote_to": "candidate"})
    result = retrain(
        registry,
        registry.resolve("agrawal-clf"),
        REQUEST,
        make_outcomes(800, drifted=True),
        settings,
    )
    assert result.promoted_to == "candidate"
    assert registry.pointer("agrawal-clf", "candidate") == result.version
    assert registry.pointer("agrawal-clf") == "1"


def test_a_tensor_model_without_its_own_trainer_fails_the_request_with_a_reason(
    tmp_path: Path,
) -> None:
    import pytest

    from streamapp.retrain.job import RetrainError
    from tests.tensor_models import NAME, write_version

    write_version(tmp_path)
    registry = ModelRegistry(tmp_path)
    with pytest.raises(RetrainError, match="retrains only with its own trainer"):
        retrain(registry, registry.resolve(NAME), REQUEST, make_outcomes(200, drifted=True),
                SETTINGS)
    assert registry.versions(NAME) == ["1"]
