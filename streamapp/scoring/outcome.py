"""What an acknowledged batch reports: counts per model and a sample of event times.

Built on the scorer thread once a batch is routed (the records themselves are
not kept), stored on the batch's ticket, and turned into metrics by the main
loop when every output is acknowledged: metrics are observed per batch, never
per event.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from streamapp.metrics.scoring import ScoringMetrics
from streamapp.scoring.router import Routed

E2E_SAMPLES = 64
"""Event-time samples kept per batch for the end-to-end latency histogram."""


@dataclass(frozen=True)
class BatchOutcome:
    """Counts of one routed batch and up to :data:`E2E_SAMPLES` of its event times."""

    predictions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    logged: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    shadow_failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    event_dts: list[datetime] = field(default_factory=list)

    @classmethod
    def of(cls, routed: Routed, event_dts: list[datetime]) -> BatchOutcome:
        """The outcome of ``routed`` (scorer thread)."""
        step = max(1, len(event_dts) // E2E_SAMPLES)
        return cls(routed.predictions, routed.logged, routed.dead, routed.shadow_failures,
                   event_dts[::step])

    def observe(self, metrics: ScoringMetrics, model: str) -> None:
        """Add this batch to the counters and the e2e histogram (main loop, once acknowledged)."""
        m = metrics
        for (name, version, variant), n in self.predictions.items():
            m.predictions.labels(model=name, version=version, variant=variant).inc(n)
        for (name, version, variant), n in self.logged.items():
            m.logged.labels(model=name, version=version, variant=variant).inc(n)
        for reason, n in self.dead.items():
            m.dead_letter.labels(reason=reason, model=model).inc(n)
        for (name, version), n in self.shadow_failures.items():
            m.shadow_failures.labels(model=name, version=version).inc(n)
        if self.event_dts:
            now = time.time()
            e2e = m.e2e.labels(model=model)
            for dt in self.event_dts:
                e2e.observe(max(0.0, now - dt.timestamp()))
