"""The retrainer acting on promotion decisions: pointers move once, stale decisions do nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from streamapp.registry.registry import ModelRegistry
from streamapp.retrain.promotion import apply_decision
from streamapp.schemas import Decision, PromotionDecision, Variant
from tests.unit.monitoring.data import add_candidate


def _decision(decision: Decision, candidate: str = "2") -> PromotionDecision:
    return PromotionDecision(
        model_name="agrawal-clf", candidate_version=candidate, primary_version="1",
        mode=Variant.SHADOW, decision=decision, metric="accuracy", test="mcnemar_chi2",
        effect=0.05, ci_lower=0.02, ci_upper=0.08, confidence=0.99375, p_value=1e-5,
        alpha=0.00625, samples=3200, primary_samples=3200, look=3,
        idempotency_key=f"agrawal-clf/{candidate}/1/shadow/{decision.value}",
        decided_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _registry(model_registry_dir: Path) -> ModelRegistry:
    add_candidate(model_registry_dir)
    registry = ModelRegistry(model_registry_dir)
    registry.promote("agrawal-clf", "2", "candidate")
    return registry


def test_promote_moves_production_and_clears_the_candidate(model_registry_dir: Path) -> None:
    registry = _registry(model_registry_dir)
    kind, _ = apply_decision(registry, _decision(Decision.PROMOTE), "production", "candidate")
    assert kind == "candidate_promoted"
    assert registry.pointer("agrawal-clf") == "2"
    assert registry.pointer("agrawal-clf", "candidate") is None
    again, fields = apply_decision(registry, _decision(Decision.PROMOTE), "production",
                                   "candidate")
    assert again == "decision_stale" and "production=2" in fields["why"]  # a replay moves nothing
    assert registry.pointer("agrawal-clf") == "2"


def test_roll_back_clears_the_candidate_and_keep_collecting_does_nothing(
    model_registry_dir: Path,
) -> None:
    registry = _registry(model_registry_dir)
    keep, _ = apply_decision(registry, _decision(Decision.KEEP_COLLECTING), "production",
                             "candidate")
    assert keep == "decision_noted" and registry.pointer("agrawal-clf", "candidate") == "2"
    kind, _ = apply_decision(registry, _decision(Decision.ROLL_BACK), "production", "candidate")
    assert kind == "candidate_rolled_back"
    assert registry.pointer("agrawal-clf") == "1"
    assert registry.pointer("agrawal-clf", "candidate") is None


def test_a_decision_about_another_candidate_is_stale(model_registry_dir: Path) -> None:
    registry = _registry(model_registry_dir)
    kind, _ = apply_decision(registry, _decision(Decision.PROMOTE, candidate="3"), "production",
                             "candidate")
    assert kind == "decision_stale"
    assert registry.pointer("agrawal-clf") == "1"
