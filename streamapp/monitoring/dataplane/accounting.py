"""The join's metrics: results counted once durable, and the per-partition gauges."""

from __future__ import annotations

import time
from collections import defaultdict

from streamapp.metrics.monitoring import JoinMetrics
from streamapp.monitoring.dataplane.join import JoinResult
from streamapp.monitoring.dataplane.partition import PartitionState

LAG_SAMPLES = 64
"""Label lags observed per checkpoint and partition (the histogram is sampled)."""


class Accounting:
    """Counts what checkpoints made durable and sets the partition gauges."""

    def __init__(self, metrics: JoinMetrics, prediction_log: str) -> None:
        self.metrics = metrics
        self.prediction_log = prediction_log

    def durable(self, part: PartitionState, pend: JoinResult) -> None:
        """A checkpoint of ``part`` reached its store (checkpoint step 5): count its results
        (a replay never counts twice) and refresh the gauges."""
        self.count(pend)
        self.gauges(part)

    def count(self, pend: JoinResult) -> None:
        """Count a checkpoint's results."""
        m = self.metrics
        joins: dict[tuple[str, str, str], int] = defaultdict(int)
        for pred, _label in pend.joined:
            joins[(pred.model_name, pred.model_version, pred.variant)] += 1
        step = max(1, len(pend.joined) // LAG_SAMPLES)
        for pred, label in pend.joined[::step]:  # a sample: the histogram shows the shape
            lag = (label.label_time - pred.event_time).total_seconds()
            m.lag.labels(pred.model_name).observe(max(lag, 0.0))
        for key, n in joins.items():
            m.joins.labels(*key).inc(n)
        expired: dict[tuple[str, str], int] = defaultdict(int)
        for pred in pend.expired:
            expired[(pred.model_name, pred.model_version)] += 1
        for key2, n in expired.items():
            m.expired.labels(*key2).inc(n)
        c = pend.counts
        m.late.inc(c["late_label"])
        m.unmatched.inc(c["unmatched_label"])
        m.outside_sample.inc(c["outside_sample"])
        m.duplicates.labels("prediction").inc(c["duplicate_prediction"])
        m.duplicates.labels("label").inc(c["duplicate_label"])
        for name, n in c.items():
            if name.startswith("dead:") and n:
                _, topic, reason = name.split(":", 2)
                kind = "prediction" if topic == self.prediction_log else "label"
                m.dead_letter.labels(kind, reason).inc(n)
                m.malformed.inc(n)

    def gauges(self, part: PartitionState) -> None:
        """State size, held entries (as of the last durable checkpoint), watermark lag."""
        m, label = self.metrics, str(part.partition)
        keys, nbytes = part.store.stats()
        m.state_keys.labels(label).set(keys)
        m.state_bytes.labels(label).set(nbytes)
        for kind in ("prediction", "label"):
            m.held.labels(label, kind).set(part.durable_held.get(kind, 0))
        if part.event_time:
            m.watermark_lag.labels(label).set(max(0.0, time.time() - part.event_time))
