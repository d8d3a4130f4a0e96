"""The demo's traffic, as a deterministic plan: same seed, same events, labels and delays.

Before ``drift_at_s`` events follow Agrawal classification function 0 (what
version 1 was trained on). From then on the concept switches to
``drift_function`` and some features shift (salary up, house value scaled), and
the labels are recomputed on the shifted features so the new concept is
consistent and learnable. A small share of events is malformed (for the
dead-letter topic); a share of labels never arrives; the rest arrive after a
log-normal delay.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from river.datasets import synth

from streamapp.sampling import selected
from streamapp.training.synthetic import agrawal

SALT_MALFORMED = "demo-malformed"
SALT_LABEL_DROP = "demo-label-drop"
MALFORMED_KINDS = ("invalid_json", "out_of_range", "unknown_category", "missing_feature")


@dataclass(frozen=True)
class TrafficPlan:
    """Rate, length, drift point and the label behaviour of one demo run."""

    rate: float = 150.0
    """Events per second."""
    duration_s: float = 180.0
    """Traffic length in seconds."""
    drift_at_s: float = 60.0
    """Seconds after the start when the concept and covariate drift begin."""
    seed: int = 1
    drift_function: int = 6
    """Agrawal classification function after the drift (version 1 knows function 0)."""
    salary_shift: float = 15_000.0
    """Covariate shift: added to salary after the drift."""
    hvalue_scale: float = 1.6
    """Covariate shift: house value multiplier after the drift."""
    malformed_share: float = 0.003
    """Share of events sent malformed (they go to the dead-letter topic)."""
    label_drop_share: float = 0.1
    """Share of labels that never arrive."""
    label_delay_median_s: float = 2.0
    """Median label delay (log-normal, sigma 0.6, capped at four times the median)."""

    @property
    def total_events(self) -> int:
        return int(self.rate * self.duration_s)


@dataclass(frozen=True)
class PlannedEvent:
    """One event of the plan: when to send it, what to send, and its ground truth."""

    index: int
    event_id: str
    at_s: float
    features: dict[str, Any]
    malformed: str | None
    """None, or which of :data:`MALFORMED_KINDS` this event is."""
    label: int
    label_delay_s: float | None
    """None: the label never arrives (also for malformed events)."""
    drifted: bool

    def payload(self, event_time: datetime) -> bytes:
        """The record value, stamped with ``event_time`` (invalid JSON for that kind)."""
        if self.malformed == "invalid_json":
            return b'{"event_id": "' + self.event_id.encode() + b'", "features": {broken'
        return orjson.dumps(
            {
                "event_id": self.event_id,
                "event_time": event_time.isoformat(),
                "features": self.features,
            }
        )


def relabel(function: int, features: dict[str, Any]) -> int:
    """The Agrawal class of ``features`` under classification function ``function``."""
    rule = getattr(synth.Agrawal, f"_classification_function_{function}")
    return int(rule(**features))


def _corrupt(kind: str, features: dict[str, Any]) -> dict[str, Any]:
    bad = dict(features)
    if kind == "out_of_range":
        bad["age"] = 500
    elif kind == "unknown_category":
        bad["car"] = 99
    elif kind == "missing_feature":
        bad.pop("loan")
    return bad


def plan_events(plan: TrafficPlan) -> Iterator[PlannedEvent]:
    """Every event of the plan, in send order; deterministic in ``plan``."""
    n = plan.total_events
    n_before = min(n, int(plan.rate * plan.drift_at_s))
    before = agrawal(n_before, seed=plan.seed, function=0)
    after = agrawal(n - n_before, seed=plan.seed + 1000, function=plan.drift_function)
    rng = np.random.default_rng(plan.seed)
    median = max(plan.label_delay_median_s, 1e-3)
    delays = np.minimum(rng.lognormal(np.log(median), 0.6, size=n), 4 * median)
    malformed_count = 0
    for index in range(n):
        drifted = index >= n_before
        label: int | float
        if drifted:
            features, _ = next(after)
            features["salary"] = features["salary"] + plan.salary_shift
            features["hvalue"] = features["hvalue"] * plan.hvalue_scale
            label = relabel(plan.drift_function, features)
        else:
            features, label = next(before)
        event_id = f"demo-{plan.seed}-{index:07d}"
        malformed = None
        if selected(event_id, SALT_MALFORMED, plan.malformed_share):
            malformed = MALFORMED_KINDS[malformed_count % len(MALFORMED_KINDS)]
            malformed_count += 1
            features = _corrupt(malformed, features)
        dropped = malformed is not None or selected(
            event_id, SALT_LABEL_DROP, plan.label_drop_share
        )
        yield PlannedEvent(
            index=index,
            event_id=event_id,
            at_s=index / plan.rate,
            features=features,
            malformed=malformed,
            label=int(label),
            label_delay_s=None if dropped else float(delays[index]),
            drifted=drifted,
        )
