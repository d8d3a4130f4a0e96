"""The policy agent's core: merges summaries into global windows, drift, gauges and requests.

Faust-free: ``state`` is any mutable mapping (a faust Table in production, a
dict in tests and the drift benchmark). It holds what must survive a restart:
per-version policy state with cumulative totals, and the event ids already
counted (kept for the label TTL) so a summary delivered twice counts once.
Windows and detectors are in memory and refill after a restart.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from streamapp.labels import ClassMap, regression_target
from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring import policy as pol
from streamapp.monitoring.detectors import ErrorRateAdwin, RiverDetector, page_hinkley
from streamapp.monitoring.drift import DriftWindow
from streamapp.monitoring.settings import MonitoringSettings
from streamapp.monitoring.summary import Summary
from streamapp.monitoring.windows import (
    CountWindow,
    Outcome,
    TimeWindow,
    Window,
    classification_metrics,
    regression_metrics,
)
from streamapp.registry.manifest import Manifest, ReferenceProfile, Task
from streamapp.registry.registry import ModelRegistry, RegistryError
from streamapp.schemas import JoinedOutcome, LoggedPrediction, RetrainRequest

State = MutableMapping[str, Any]
log = logging.getLogger(__name__)


@dataclass
class _Version:
    manifest: Manifest
    drift: DriftWindow | None
    policy_window: CountWindow
    windows: dict[tuple[str, bool], list[Window]] = field(default_factory=dict)
    adwin: ErrorRateAdwin = field(default_factory=ErrorRateAdwin)
    score_ph: RiverDetector = field(default_factory=page_hinkley)
    since_eval: int = 0
    alarm: bool = False
    since_roll: int = 0
    """Outcomes since the policy window last rolled over completely."""
    previous_accuracy: float | None = None
    classes: ClassMap = field(init=False)

    def __post_init__(self) -> None:
        self.classes = ClassMap(self.manifest.output.classes or [])

    def class_index(self, value: object) -> int | None:
        return self.classes.index(value)


class Aggregator:
    """Turns summaries into metrics and retrain requests; call :meth:`handle` per summary."""

    def __init__(
        self,
        settings: MonitoringSettings,
        registry: ModelRegistry,
        state: State,
        metrics: AggregateMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.state = state
        self.metrics = metrics
        self._versions: dict[tuple[str, str], _Version | None] = {}
        self._seen_heap: list[tuple[float, str]] | None = None

    # -- entry point -----------------------------------------------------------------
    def handle(self, summary: Summary, now: float) -> list[RetrainRequest]:
        """Merge one summary; returns the retrain requests to emit (usually none).

        A summary for an unknown model version is counted in the totals but
        feeds no window (its manifest and profile are needed to interpret it).
        """
        self._expire_seen(now)
        model, version = summary.model
        seen_key = f"seen:{summary.kind}:{summary.event_id}"
        if seen_key in self.state:
            return []
        self._mark_seen(seen_key, now)
        totals = dict(self.state.get(_pkey(model, version)) or {})
        if summary.kind == "expired":
            totals["expired"] = int(totals.get("expired", 0)) + 1
            self.state[_pkey(model, version)] = totals
            self._export_totals(model, version, totals)
            return []
        ver = self._version(model, version)
        if summary.kind == "outcome":
            assert summary.outcome is not None
            totals["outcomes"] = int(totals.get("outcomes", 0)) + 1
            self.state[_pkey(model, version)] = totals
            self._export_totals(model, version, totals)
            if ver is not None:
                self._on_outcome(ver, summary.outcome)
        elif ver is not None:
            assert summary.prediction is not None
            self._on_prediction(ver, summary.prediction)
        if ver is None:
            return []
        ver.since_eval += 1
        if ver.since_eval < self.settings.eval_every:
            return []
        ver.since_eval = 0
        request = self.evaluate(model, version, now)
        return [request] if request is not None else []

    # -- inputs ----------------------------------------------------------------------
    def _on_prediction(self, ver: _Version, pred: LoggedPrediction) -> None:
        if ver.drift is None:
            return
        value = _prediction_value(ver.manifest, pred)
        if value is None:
            return
        problems = ver.drift.update(pred.features, value)
        m = self.metrics
        if m is not None:
            for feature, problem in problems:
                m.data_quality.labels(pred.model_name, pred.model_version, feature, problem).inc()
        if isinstance(value, float) and ver.score_ph.update(value) and m is not None:
            m.detector_alarms.labels(
                pred.model_name, pred.model_version, "page_hinkley", "prediction"
            ).inc()

    def _on_outcome(self, ver: _Version, o: JoinedOutcome) -> None:
        task = ver.manifest.task
        labels = (o.model_name, o.model_version, o.variant.value, str(o.holdout).lower())
        m = self.metrics
        if task.is_classification:
            y = ver.class_index(o.label)
            y_hat = ver.class_index(o.predicted_label)
            if y is None or y_hat is None:
                if m is not None:
                    m.data_quality.labels(o.model_name, o.model_version, "label", "invalid").inc()
                return
            score = o.scores[1] if task is Task.BINARY and o.scores and len(o.scores) == 2 else None
            item = Outcome(o.event_time.timestamp(), float(y), float(y_hat), score)
            error = float(y != y_hat)
            if m is not None:
                classes = ver.manifest.output.classes or []
                m.confusion.labels(*labels, str(classes[y]), str(classes[y_hat])).inc()
        else:
            y_value = regression_target(o.label)
            if o.predicted_value is None or y_value is None:
                if m is not None:
                    m.data_quality.labels(o.model_name, o.model_version, "label", "invalid").inc()
                return
            item = Outcome(o.event_time.timestamp(), y_value, o.predicted_value)
            error = abs(item.y - item.y_hat)
            if m is not None:
                m.abs_error.labels(*labels).inc(error)
                m.sq_error.labels(*labels).inc(error**2)
        if m is not None:
            m.outcomes.labels(*labels).inc()
        key = (o.variant.value, o.holdout)
        if key not in ver.windows:
            ver.windows[key] = [
                CountWindow(self.settings.count_window),
                TimeWindow(self.settings.time_window_s),
            ]
        for window in ver.windows[key]:
            window.update(item)
        ver.policy_window.update(item)
        ver.since_roll += 1
        if ver.since_roll >= self.settings.count_window and task.is_classification:
            ver.since_roll = 0  # a full, non-overlapping window: the next one compares to it
            ver.previous_accuracy = self._metrics_of(ver, ver.policy_window).get("accuracy")
        if ver.adwin.update(error):
            ver.alarm = True
            if m is not None:
                m.detector_alarms.labels(o.model_name, o.model_version, "adwin", "error").inc()

    # -- evaluation ------------------------------------------------------------------
    def snapshot(self, model: str, version: str) -> dict[str, Any]:
        """Current window metrics and drift of one version (what the gauges show)."""
        ver = self._version(model, version)
        if ver is None:
            return {}
        windows: dict[str, dict[str, float]] = {}
        for (variant, holdout), wins in ver.windows.items():
            for w in wins:
                windows[f"{variant}/{str(holdout).lower()}/{w.name}"] = self._metrics_of(ver, w)
        drift = ver.drift.snapshot() if ver.drift is not None else {}
        return {
            "windows": windows,
            "drift": drift,
            "drift_samples": len(ver.drift or []),
            "profile_loaded": ver.drift is not None,
        }

    def _metrics_of(self, ver: _Version, window: Window) -> dict[str, float]:
        items = window.items()
        if ver.manifest.task.is_classification:
            return classification_metrics(items, len(ver.manifest.output.classes or []))
        return regression_metrics(items)

    def evaluate(self, model: str, version: str, now: float) -> RetrainRequest | None:
        """Refresh the gauges of one version and run its policy."""
        ver = self._version(model, version)
        if ver is None:
            return None
        snap = self.snapshot(model, version)
        self._export(model, version, snap)
        policy = self.settings.policy_for(model)
        pw = ver.policy_window.items()
        sig_acc = sig_rmse = None
        if len(pw) >= policy.min_samples:
            values = self._metrics_of(ver, ver.policy_window)
            sig_acc = values.get("accuracy")
            sig_rmse = values.get("rmse")
        psi: dict[str, float] = {}
        pred_psi = None
        drift_window = ""
        if ver.drift is not None and len(ver.drift) >= policy.min_samples:
            drift_window = f"count:{ver.drift.size}"
            psi = {f: v["psi"] for f, v in snap["drift"].items() if f != "prediction"}
            pred_psi = snap["drift"].get("prediction", {}).get("psi")
        signals = pol.Signals(
            accuracy=sig_acc,
            rmse=sig_rmse,
            accuracy_window=ver.policy_window.name,
            previous_accuracy=ver.previous_accuracy,
            psi=psi,
            prediction_psi=pred_psi,
            drift_window=drift_window,
            detector_alarm=ver.alarm,
        )
        ver.alarm = False
        baseline = ver.manifest.baseline_metrics
        fired = pol.triggers(policy, baseline, signals)
        is_recovered = pol.recovered(policy, baseline, signals)
        key = _pkey(model, version)
        totals = dict(self.state.get(key) or {})
        evidence = {
            "baseline": baseline,
            "previous_window_accuracy": ver.previous_accuracy,
            "samples": len(pw),
            "drift_samples": len(ver.drift or []),
        }
        new_policy, request = pol.decide(
            policy, totals.get("policy", {}), model, version, fired, is_recovered, now, evidence
        )
        if new_policy != totals.get("policy"):
            totals["policy"] = new_policy
            self.state[key] = totals
        if self.metrics is not None:
            self.metrics.incident_active.labels(model, version).set(float(new_policy["open"]))
            if request is not None:
                self.metrics.retrain_requests.labels(model, version, request.reason.value).inc()
        return request

    def _export(self, model: str, version: str, snap: dict[str, Any]) -> None:
        m = self.metrics
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

    def _export_totals(self, model: str, version: str, totals: dict[str, Any]) -> None:
        if self.metrics is None:
            return
        joined = int(totals.get("outcomes", 0))
        expired = int(totals.get("expired", 0))
        self.metrics.recorded.labels(model, version).set(joined)
        if joined + expired:
            self.metrics.coverage.labels(model, version).set(joined / (joined + expired))

    # -- helpers ---------------------------------------------------------------------
    def _version(self, model: str, version: str) -> _Version | None:
        """The version's state, loaded once; a load failure is logged and exported, never silent.

        Without a manifest the version feeds no window; without a usable
        profile it still gets accuracy / error windows and the retrain policy,
        but no drift (``streamapp_reference_profile_loaded`` is 0).
        """
        key = (model, version)
        if key not in self._versions:
            try:
                mv = self.registry.get(model, version)
            except RegistryError as exc:
                self._profile_status(model, version, "manifest", exc)
                self._versions[key] = None
                return None
            drift = None
            try:
                profile = ReferenceProfile.load(mv.path)
                drift = DriftWindow(mv.manifest, profile, self.settings.drift_window)
            except (OSError, ValueError, KeyError) as exc:
                self._profile_status(model, version, "profile", exc)
            else:
                self._profile_status(model, version, None, None)
            self._versions[key] = _Version(
                manifest=mv.manifest,
                drift=drift,
                policy_window=CountWindow(self.settings.count_window),
            )
        return self._versions[key]

    def _profile_status(
        self, model: str, version: str, problem: str | None, exc: Exception | None
    ) -> None:
        if problem is not None:
            log.error(
                "monitor: %s/%s has an unusable %s (%s): %s",
                model,
                version,
                problem,
                "no windows, drift or retrain policy" if problem == "manifest" else "no drift",
                str(exc)[:300],
                extra={"model": model, "version": version},
            )
        if self.metrics is not None:
            self.metrics.profile_loaded.labels(model, version).set(0.0 if problem else 1.0)

    def _mark_seen(self, key: str, now: float) -> None:
        deadline = now + self.settings.label_ttl_s
        self.state[key] = deadline
        if self._seen_heap is not None:
            heapq.heappush(self._seen_heap, (deadline, key))

    def _expire_seen(self, now: float) -> None:
        if self._seen_heap is None:
            self._seen_heap = [
                (float(v), k) for k, v in self.state.items() if k.startswith("seen:")
            ]
            heapq.heapify(self._seen_heap)
        heap = self._seen_heap
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if self.state.get(key) == deadline:
                del self.state[key]


def _pkey(model: str, version: str) -> str:
    return f"version:{model}/{version}"


def _prediction_value(manifest: Manifest, pred: LoggedPrediction) -> float | str | None:
    """The value the reference profile's prediction column describes."""
    if manifest.task is Task.REGRESSION:
        return pred.predicted_value
    if manifest.task is Task.BINARY:
        return pred.scores[1] if pred.scores and len(pred.scores) == 2 else None
    return None if pred.predicted_label is None else str(pred.predicted_label)
