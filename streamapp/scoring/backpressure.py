"""Backpressure: pause the source at the high watermark, resume below the low one.

Bounded in-flight work (events and bytes fetched but not committed) keeps
memory flat whatever the input rate: the source stops fetching instead of the
worker buffering. Runs once per main-loop pass; never raises.
"""

from __future__ import annotations

from streamapp.metrics.scoring import ScoringMetrics
from streamapp.scoring.ledger import InFlightLedger
from streamapp.scoring.ports import Source
from streamapp.settings.scoring import ScoringSettings


class Backpressure:
    """Hysteresis between ``max_inflight_*`` (pause) and ``resume_ratio`` of them (resume)."""

    def __init__(self, cfg: ScoringSettings, metrics: ScoringMetrics) -> None:
        self.cfg = cfg
        self.metrics = metrics

    def apply(self, source: Source, ledger: InFlightLedger, owned: int) -> None:
        """Pause or resume ``source`` for the ledger's load; ``owned`` partitions (gauge)."""
        cfg, m = self.cfg, self.metrics
        events, nbytes = ledger.events, ledger.bytes
        if not source.paused and (
            events >= cfg.max_inflight_events or nbytes >= cfg.max_inflight_bytes
        ):
            source.pause()
            m.pauses.inc()
            m.paused.set(owned)
        elif source.paused and events <= cfg.resume_events and nbytes <= cfg.resume_bytes:
            source.resume()
            m.paused.set(0)
        m.inflight_events.set(events)
        m.inflight_bytes.set(nbytes)
