"""What the aggregator exports: Prometheus series and each version's heartbeat status."""

from __future__ import annotations

import math
from typing import Any, TypedDict

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring.control import policy as pol
from streamapp.monitoring.control.state import VersionKey, VersionRecord
from streamapp.schemas import RetrainRequest
from streamapp.settings.monitoring import MonitoringSettings
from streamapp.statistics.spec import ModelSpec
from streamapp.statistics.summary import SCALE, Stats, Summary


class VersionStatus(TypedDict, total=False):
    """What a heartbeat reports of one version: quality, worst drift, the incident."""

    model: str
    version: str
    accuracy: float | None
    rmse: float | None
    window: str
    drift_samples: int
    max_psi: float | None
    max_psi_feature: str | None
    incident_open: bool
    incident: int
    acknowledged_at: Any
    last_request: dict[str, Any]
    """The retrain request of the open incident (JSON form)."""


def version_status(
    model: str, version: str, drift_samples: int, sig: pol.Signals,
    policy: dict[str, Any], request: RetrainRequest | None,
) -> VersionStatus:
    """The status of one version after an evaluation."""
    psi = sig.psi
    worst = max(psi, key=lambda f: psi[f]) if psi else None
    out = VersionStatus(
        model=model, version=version, accuracy=sig.accuracy, rmse=sig.rmse,
        window=sig.accuracy_window, drift_samples=drift_samples,
        max_psi=psi[worst] if worst else None, max_psi_feature=worst,
        incident_open=bool(policy.get("open")), incident=policy.get("incident", 0),
        acknowledged_at=policy.get("acknowledged_at"),
    )
    if request is not None:
        out["last_request"] = request.model_dump(mode="json")
    return out


def count_outcomes(m: AggregateMetrics | None, summary: Summary, holdout: bool, s: Stats,
                   spec: ModelSpec | None) -> None:
    """Count one summary group's outcomes, confusion, errors and data-quality problems."""
    if m is None or spec is None:
        return
    labels = (summary.model, summary.version, summary.variant, str(holdout).lower())
    for problem, n in s.quality.items():
        feature, what = problem.rsplit("/", 1)
        m.data_quality.labels(summary.model, summary.version, feature, what).inc(n)
    if s.invalid_labels:
        m.data_quality.labels(summary.model, summary.version, "label", "invalid").inc(
            s.invalid_labels
        )
    if spec.classes is not None:
        n = len(spec.classes)
        for i, c in enumerate(s.confusion):
            if c:
                a, p = divmod(i, n)
                m.confusion.labels(*labels, str(spec.classes[a]), str(spec.classes[p])).inc(c)
        valid = sum(s.confusion)
    else:
        valid = int(s.sums.get("n", 0))
        m.abs_error.labels(*labels).inc(s.sums.get("abs", 0) / SCALE)
        m.sq_error.labels(*labels).inc(s.sums.get("sq", 0) / SCALE)
    if valid:
        m.outcomes.labels(*labels).inc(valid)


def export_snapshot(m: AggregateMetrics | None, cfg: MonitoringSettings, model: str,
                    version: str, snap: dict[str, Any]) -> None:
    """Window metrics, drift and label-free estimates of a version's snapshot."""
    if m is None:
        return
    for name, values in snap["windows"].items():
        variant, holdout, window = name.split("/", 2)
        for metric, value in values.items():
            if not math.isnan(value):
                m.model_metric.labels(model, version, variant, holdout, window, metric).set(
                    value
                )
    for feature, values in snap["drift"].items():
        for stat, value in values.items():
            if feature == "prediction":
                m.prediction_drift.labels(model, version, stat).set(value)
            else:
                m.feature_drift.labels(model, version, feature, stat).set(value)
    m.drift_samples.labels(model, version).set(snap["drift_samples"])
    for gauge, window, values in (
        (m.estimated, f"count:{cfg.drift_window}", snap["estimated"]),
        (m.estimation_error, f"count:{cfg.count_window}", snap["estimation_error"]),
    ):
        for metric, value in values.items():
            gauge.labels(model, version, window, metric).set(value)


def export_totals(m: AggregateMetrics | None, model: str, version: str,
                  record: VersionRecord) -> None:
    """Recorded outcomes and label coverage of a version."""
    if m is None:
        return
    done = int(record.get("outcomes", 0))
    expired = int(record.get("expired", 0))
    m.recorded.labels(model, version).set(done)
    if done + expired:
        m.coverage.labels(model, version).set(done / (done + expired))


class TriggerGauges:
    """The trigger gauges: each trigger's statistic and bounds as the policy compared them."""

    def __init__(self, metrics: AggregateMetrics | None) -> None:
        self.metrics = metrics
        self.checked: dict[VersionKey, set[tuple[str, str]]] = {}
        """Per version: the (trigger, feature) series exported so far."""

    def export(self, model: str, version: str, evaluated: list[pol.Check],
               fired: list[pol.Trigger]) -> None:
        """Each trigger's statistic and bounds as the policy compared them, and what fired."""
        m = self.metrics
        if m is None:
            return
        for c in evaluated:
            m.trigger_statistic.labels(model, version, c.trigger, c.feature).set(c.statistic)
            for bound, value in (("fire", c.threshold), ("recover", c.recover)):
                m.trigger_threshold.labels(model, version, c.trigger, c.feature, bound).set(value)
        for trigger, on in pol.firing(evaluated, fired).items():
            m.trigger_firing.labels(model, version, trigger).set(float(on))
        self.clear(model, version, {(c.trigger, c.feature) for c in evaluated})

    def clear(self, model: str, version: str, keep: set[tuple[str, str]]) -> None:
        """NaN statistic, not firing: exported trigger series this evaluation did not measure
        (a window emptied by ``rebaseline``, a column without values)."""
        known = self.checked.setdefault(VersionKey(model, version), set())
        m = self.metrics
        if m is not None:
            names = {trigger for trigger, _ in keep}
            for trigger, feature in known - keep:
                m.trigger_statistic.labels(model, version, trigger, feature).set(math.nan)
                if trigger not in names:
                    m.trigger_firing.labels(model, version, trigger).set(0.0)
        known |= keep
