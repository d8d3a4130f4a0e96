"""Joined outcomes from the demo's traffic plan (real Agrawal data, known concept)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamapp.demo.traffic import TrafficPlan, plan_events
from streamapp.schemas import JoinedOutcome, RetrainReason, RetrainRequest, Variant

T0 = datetime(2026, 1, 1, tzinfo=UTC)

REQUEST = RetrainRequest(
    model_name="agrawal-clf",
    model_version="1",
    reason=RetrainReason.ACCURACY_DROP,
    metric="accuracy",
    observed=0.5,
    threshold=0.95,
    window="count:500",
    idempotency_key="agrawal-clf/1/incident-1",
    requested_at=T0,
)
"""One accuracy-drop request for agrawal-clf/1."""


def make_outcomes(
    n: int, drifted: bool, seed: int = 3, version: str = "1", start: datetime = T0
) -> list[JoinedOutcome]:
    """``n`` outcomes before (function 0) or after (function 6 + shift) the demo's drift."""
    plan = TrafficPlan(
        rate=100.0,
        duration_s=2 * n / 100 + 1,
        drift_at_s=0.0 if drifted else 1e9,
        seed=seed,
        malformed_share=0.0,
    )
    out = []
    for event in plan_events(plan):
        if len(out) == n:
            break
        t = start + timedelta(seconds=event.at_s)
        out.append(
            JoinedOutcome(
                event_id=event.event_id,
                model_name="agrawal-clf",
                model_version=version,
                variant=Variant.PRIMARY,
                holdout=False,
                features=event.features,
                predicted_label=0,
                label=event.label,
                event_time=t,
                scored_time=t,
                label_time=t + timedelta(seconds=1),
                label_lag_s=1.0,
                joined_at=t + timedelta(seconds=1),
            )
        )
    return out
