"""Acting on the monitor's promotion decisions (``retrain.promotion_actor = "retrainer"``).

``promote``: the production pointer moves to the candidate and the candidate
pointer is cleared (the scorers hot-swap both between batches); ``roll_back``:
the candidate pointer is cleared and the primary keeps serving;
``keep_collecting``: nothing. A decision about a candidate the candidate pointer
no longer names, or against a primary that no longer serves, is stale and
ignored, so a replayed or late decision never moves a pointer twice or back.
"""

from __future__ import annotations

from typing import Any

from streamapp.registry.registry import ModelRegistry, RegistryError
from streamapp.schemas import Decision, PromotionDecision


def apply_decision(
    registry: ModelRegistry, decision: PromotionDecision, production: str, candidate: str
) -> tuple[str, dict[str, Any]]:
    """Apply one decision to the pointers; returns the event to log (kind, fields).

    Kinds: ``candidate_promoted``, ``candidate_rolled_back``, ``decision_noted``
    (keep collecting), ``decision_stale`` (the pointers moved on), ``decision_failed``
    (a registry error; the pointers are unchanged).
    """
    name = decision.model_name
    fields: dict[str, Any] = {
        "model": name, "version": decision.candidate_version,
        "primary": decision.primary_version, "decision": decision.decision.value,
        "effect": decision.effect, "p_value": decision.p_value, "samples": decision.samples,
        "key": decision.idempotency_key,
    }
    if decision.decision == Decision.KEEP_COLLECTING:
        return "decision_noted", fields
    try:
        now_candidate = registry.pointer(name, candidate)
        now_primary = registry.pointer(name, production)
        if now_candidate != decision.candidate_version or now_primary != decision.primary_version:
            why = f"pointers now {production}={now_primary} {candidate}={now_candidate}"
            return "decision_stale", {**fields, "why": why}
        if decision.decision == Decision.PROMOTE:
            registry.promote(name, decision.candidate_version, production)
            registry.clear(name, candidate)
            return "candidate_promoted", fields
        registry.clear(name, candidate)
        return "candidate_rolled_back", fields
    except (RegistryError, OSError) as exc:
        return "decision_failed", {**fields, "why": str(exc)}
