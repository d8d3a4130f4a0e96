"""The policy agent's core: merges summaries into global windows, gauges and retrain requests.

Faust-free: ``state`` is any mutable mapping (a faust Table in production, a
dict in tests and the drift benchmark). It holds what must survive a restart:
per model version the cumulative totals, the policy state and the last applied
checkpoint sequence number per (variant, join partition), so a summary
delivered twice (a data-plane worker re-emits its last checkpoint after a
crash) is applied once; and the window buckets per (model, version, variant,
holdout, bucket) with their own applied sequence numbers, written when a
summary touches them and deleted when pruned, so windows survive a
control-plane restart or failover. Only the detectors
(ADWIN on errors, PageHinkley on the prediction) are in memory and refill.
The records' types and keys are in :mod:`.state`; what is exported (gauges,
heartbeat status) in :mod:`.exports`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring.control import policy as pol
from streamapp.monitoring.control import verdicts
from streamapp.monitoring.control.detectors import ErrorRateAdwin, RiverDetector, page_hinkley
from streamapp.monitoring.control.exports import (
    TriggerGauges,
    VersionStatus,
    count_outcomes,
    export_snapshot,
    export_totals,
    version_status,
)
from streamapp.monitoring.control.state import (
    BucketRecord,
    State,
    VersionKey,
    bucket_key,
    bucket_prefix,
    load_version,
    version_buckets,
    version_key,
)
from streamapp.monitoring.control.verdicts import Verdicts
from streamapp.monitoring.control.windows import Buckets, count_window_label, joined, logged
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.schemas import PromotionDecision, RetrainRequest
from streamapp.settings.monitoring import MonitoringSettings
from streamapp.statistics import estimation, quality
from streamapp.statistics.calibration import calibrated, export_calibration
from streamapp.statistics.spec import ModelSpec
from streamapp.statistics.summary import Stats, Summary

__all__ = ["Aggregator", "State"]


@dataclass
class VersionView:
    """The in-memory view of one model version: windows and detectors (rebuilt from
    :class:`~.state.BucketRecord` s after a restart; the detectors refill)."""

    spec: ModelSpec | None
    """None: the version is not in the registry (totals only, no policy)."""
    all: Buckets
    """Every group's buckets merged (drift, the policy's accuracy windows)."""
    by_group: dict[tuple[str, bool], Buckets] = field(default_factory=dict)
    """(variant, holdout) → that group's buckets (the window gauges)."""
    adwin: ErrorRateAdwin = field(default_factory=ErrorRateAdwin)
    score_ph: RiverDetector = field(default_factory=page_hinkley)
    alarm: bool = False
    """ADWIN alarmed since the last evaluation."""


class Aggregator:
    """Turns summaries into metrics and retrain requests; call :meth:`handle` per summary."""

    def __init__(
        self,
        settings: MonitoringSettings,
        specs: SpecCache,
        state: State,
        metrics: AggregateMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.specs = specs
        self.state = state
        self.metrics = metrics
        self._versions: dict[VersionKey, VersionView] = {}
        self._changed: set[VersionKey] = set()
        self.latest: dict[VersionKey, VersionStatus] = {}
        """Per version: the last evaluated quality, drift and incident (for heartbeats)."""
        self.verdicts = Verdicts(settings.verdicts, state, metrics)
        self.decisions: list[PromotionDecision] = []
        """Promotion decisions taken since the caller last took them (:meth:`take_decisions`)."""
        self.triggers = TriggerGauges(metrics)

    def forget(self) -> None:
        """Drop the in-memory view (after a rebalance); it is rebuilt from ``state`` on demand."""
        self._versions.clear()

    def handle(self, summary: Summary, now: float) -> list[RetrainRequest]:
        """Merge one summary (once per checkpoint) and evaluate its version's policy.

        Idempotent even when the state lost a suffix of its writes (a changelog
        restored one record short): each bucket record and the version record
        remember the last checkpoint they applied per (variant, join partition), and
        the version record, which gates the totals, is written last.
        """
        model, version = summary.model, summary.version
        key = version_key(model, version)
        totals = load_version(self.state, model, version)
        applied = dict(totals.get("seq") or {})
        source = f"{summary.variant}/{summary.partition}"
        if int(applied.get(source, -1)) >= summary.seq:
            return []  # already applied (a re-emitted checkpoint)
        ver = self._version(model, version)
        total = Stats()
        for (holdout, bucket), s in summary.groups.items():
            total = total.merge(s)
            bkey = bucket_key(model, version, summary.variant, holdout, bucket)
            record: BucketRecord | None = self.state.get(bkey)
            seen = dict(record.get("seq") or {}) if record else {}
            if int(seen.get(str(summary.partition), -1)) >= summary.seq:
                continue  # this bucket took the summary before a restart
            ver.all.add(bucket, s)
            group = ver.by_group.setdefault(
                (summary.variant, holdout), Buckets(self.settings.bucket_s)
            )
            group.add(bucket, s)
            seen[str(summary.partition)] = summary.seq
            self.state[bkey] = BucketRecord(stats=group.items[bucket].to_dict(), seq=seen)
            count_outcomes(self.metrics, summary, holdout, s, ver.spec)
        self._compare(summary, ver.spec, now)
        totals["outcomes"] = int(totals.get("outcomes", 0)) + total.joined
        totals["expired"] = int(totals.get("expired", 0)) + total.expired
        totals["logged"] = int(totals.get("logged", 0)) + total.logged
        applied[source] = summary.seq
        totals["seq"] = applied
        self.state[key] = totals
        export_totals(self.metrics, model, version, totals)
        if ver.spec is None:
            return []
        self._detect(model, version, ver, total, summary.seq)
        self._prune(model, version, ver)
        request = self.evaluate(model, version, now)
        return [request] if request is not None else []

    def _compare(self, summary: Summary, spec: ModelSpec | None, now: float) -> None:
        """Merge a candidate summary's comparison counts (canary / shadow verdicts)."""
        if not summary.versus or spec is None or not self.settings.verdicts.enabled:
            return
        for primary, counts in verdicts.split(summary.versus).items():
            c = verdicts.Comparison(summary.model, summary.version, summary.variant, primary,
                                    spec.classes is not None)
            decision = self.verdicts.update(c, counts, summary.partition, summary.seq, now)
            if decision is not None:
                self.decisions.append(decision)

    def take_decisions(self) -> list[PromotionDecision]:
        """The promotion decisions taken since the last call (to publish)."""
        out, self.decisions = self.decisions, []
        return out

    def _detect(self, model: str, version: str, ver: VersionView, s: Stats, seq: int) -> None:
        """Feed the streaming detectors, one value per outcome / logged prediction.

        A summary has counts, not the sequence: ADWIN gets the summary's errors
        and PageHinkley its prediction-bin midpoints, in a deterministic shuffle,
        at most ``DETECTOR_SAMPLE`` values each (proportionally thinned beyond).
        """
        spec, m = ver.spec, self.metrics
        assert spec is not None
        rng = np.random.default_rng(seq)
        if spec.classes is not None and s.confusion:
            n = len(spec.classes)
            right = sum(s.confusion[i * n + i] for i in range(n))
            values = _thin([0.0, 1.0], [right, sum(s.confusion) - right], rng)
            if any([ver.adwin.update(v) for v in values]):
                ver.alarm = True
                if m is not None:
                    m.detector_alarms.labels(model, version, "adwin", "error").inc()
        edges = spec.prediction.edges
        counts = s.hist.get("prediction")
        if edges and counts:
            mids = [edges[0], *((a + b) / 2 for a, b in itertools.pairwise(edges)), edges[-1]]
            values = _thin(mids, counts, rng)
            if any([ver.score_ph.update(v) for v in values]) and m is not None:
                m.detector_alarms.labels(model, version, "page_hinkley", "prediction").inc()

    # -- evaluation ------------------------------------------------------------------
    def snapshot(self, model: str, version: str) -> dict[str, Any]:
        """Current window metrics and drift of one version (what the gauges show)."""
        ver = self._version(model, version)
        if ver.spec is None:
            return {}
        cfg = self.settings
        windows: dict[str, dict[str, float]] = {}
        for (variant, holdout), buckets in ver.by_group.items():
            prefix = f"{variant}/{str(holdout).lower()}"
            count, _ = buckets.count_window(cfg.count_window, joined)
            label = count_window_label(cfg.count_window)
            windows[f"{prefix}/{label}"] = quality.model_metrics(ver.spec, count)
            timed = buckets.time_window(cfg.time_window_s)
            windows[f"{prefix}/time:{cfg.time_window_s:g}s"] = quality.model_metrics(
                ver.spec, timed
            )
        drift_stats, _ = ver.all.count_window(cfg.drift_window, logged)
        outcomes, _ = ver.all.count_window(cfg.count_window, joined)
        return {
            "windows": windows,
            "drift": quality.drift(ver.spec, drift_stats),
            "drift_samples": drift_stats.logged,
            "estimated": estimation.estimate(ver.spec, drift_stats),
            "estimation_error": estimation.errors(
                estimation.estimate(ver.spec, outcomes), quality.model_metrics(ver.spec, outcomes)
            ),
        }

    def export_gauges(self) -> None:
        """Refresh the window and drift gauges of every version changed since the last call.

        The control plane calls it on a timer (about once a second): the full snapshot
        (every window of every group, every drift statistic) costs more than the policy's
        own signals, which :meth:`evaluate` computes on each summary.
        """
        self.verdicts.export_gauges()
        changed, self._changed = self._changed, set()
        for model, version in sorted(changed):
            snap = self.snapshot(model, version)
            if snap:
                export_snapshot(self.metrics, self.settings, model, version, snap)

    def evaluate(self, model: str, version: str, now: float) -> RetrainRequest | None:
        """Run the policy of one version (its gauges: :meth:`export_gauges`)."""
        ver = self._version(model, version)
        if ver.spec is None:
            return None
        spec, cfg = ver.spec, self.settings
        self._changed.add(VersionKey(model, version))
        policy = cfg.policy_for(model)
        window, _ = ver.all.count_window(cfg.count_window, joined)
        previous, previous_full = ver.all.count_window(cfg.count_window, joined, skip=1)
        sig_acc = sig_rmse = None
        if window.joined >= policy.min_samples:
            values = quality.policy_metrics(spec, window)
            sig_acc, sig_rmse = values.get("accuracy"), values.get("rmse")
        prev_acc = (
            quality.policy_metrics(spec, previous).get("accuracy") if previous_full else None
        )
        drift_stats, _ = ver.all.count_window(cfg.drift_window, logged)
        psi: dict[str, float] = {}
        pred_psi = None
        drift_window = ""
        cal = calibrated(spec, policy, cfg.drift_window)
        need = max(policy.min_samples, cal.window if cal is not None else 0)
        if drift_stats.logged >= need:
            drift_window = count_window_label(cfg.drift_window)
            psi = quality.psi(spec, drift_stats)
            pred_psi = psi.pop("prediction", None)
        estimated = (
            estimation.estimate(spec, drift_stats).get("accuracy")
            if policy.estimated_accuracy_drop is not None
            and drift_stats.logged >= policy.min_samples
            else None
        )
        signals = pol.Signals(
            accuracy=sig_acc,
            rmse=sig_rmse,
            accuracy_window=count_window_label(cfg.count_window),
            previous_accuracy=prev_acc,
            psi=psi,
            prediction_psi=pred_psi,
            drift_window=drift_window,
            psi_limits=cal.feature_drift.thresholds if cal and cal.feature_drift else {},
            prediction_psi_limit=(
                cal.prediction_drift.thresholds["prediction"]
                if cal and cal.prediction_drift
                else None
            ),
            detector_alarm=ver.alarm,
            estimated_accuracy=estimated,
        )
        ver.alarm = False
        baseline = spec.manifest.baseline_metrics
        evaluated = pol.checks(policy, baseline, signals)
        fired = pol.triggers(policy, baseline, signals, evaluated)
        is_recovered = pol.recovered(policy, baseline, signals, evaluated)
        key = version_key(model, version)
        totals = load_version(self.state, model, version)
        evidence = {
            "baseline": baseline,
            "previous_window_accuracy": prev_acc,
            "samples": window.joined,
            "drift_samples": drift_stats.logged,
        }
        new_policy, request = pol.step(
            policy, totals.get("policy", {}), model, version, fired, is_recovered, now, evidence
        )
        if new_policy != totals.get("policy"):
            totals["policy"] = new_policy
            self.state[key] = totals
        latest = version_status(model, version, drift_stats.logged, signals, new_policy, request)
        before = self.latest.get(VersionKey(model, version), VersionStatus())
        if request is None and new_policy.get("open") and "last_request" in before:
            latest["last_request"] = before["last_request"]  # the open incident's evidence
        self.latest[VersionKey(model, version)] = latest
        if self.metrics is not None:
            for name, value in pol.thresholds(policy, baseline).items():
                self.metrics.policy_threshold.labels(model, version, name).set(value)
            self.metrics.incident_active.labels(model, version).set(float(new_policy["open"]))
            self.triggers.export(model, version, evaluated, fired)
            if request is not None:
                self.metrics.retrain_requests.labels(model, version, request.reason.value).inc()
        return request

    def forget_version(self, model: str, version: str) -> None:
        """Drop every window bucket of a version (state included): windows restart empty."""
        self._versions.pop(VersionKey(model, version), None)
        self.latest.pop(VersionKey(model, version), None)
        self.triggers.clear(model, version, set())
        prefix = bucket_prefix(model, version)
        for key in [k for k in list(self.state) if isinstance(k, str) and k.startswith(prefix)]:
            self.state.pop(key, None)

    def policy_state(self, model: str, version: str) -> dict[str, Any]:
        """The persisted policy state of a version (open, incident, last_request, ...)."""
        return dict(load_version(self.state, model, version).get("policy") or {})

    def set_policy_state(self, model: str, version: str, policy: dict[str, Any]) -> None:
        """Persist a version's policy state (operator commands)."""
        totals = load_version(self.state, model, version)
        totals["policy"] = policy
        self.state[version_key(model, version)] = totals
        if not policy.get("open"):
            # an operator closed the incident: heartbeats and the gauge say so at once, not
            # only when the version's next summary is evaluated (a version that no longer
            # gets traffic, e.g. after a promotion, would otherwise stay open forever)
            latest = self.latest.get(VersionKey(model, version))
            if latest is not None:
                latest["incident_open"] = False
                latest["acknowledged_at"] = policy.get("acknowledged_at")
            if self.metrics is not None:
                self.metrics.incident_active.labels(model, version).set(0.0)

    def _version(self, model: str, version: str) -> VersionView:
        """The in-memory view of a version, rebuilt from the persisted buckets when new."""
        key = VersionKey(model, version)
        ver = self._versions.get(key)
        if ver is None:
            ver = self._versions[key] = VersionView(
                self.specs.get(model, version), Buckets(self.settings.bucket_s)
            )
            for variant, holdout, bucket, record in version_buckets(self.state, model, version):
                stats = Stats.from_dict(record["stats"])
                ver.all.add(bucket, stats)
                ver.by_group.setdefault(
                    (variant, holdout), Buckets(self.settings.bucket_s)
                ).add(bucket, stats)
            if self.metrics is not None and ver.spec is not None:
                cfg = self.settings
                cal = calibrated(ver.spec, cfg.policy_for(model), cfg.drift_window)
                export_calibration(self.metrics, model, version, cal)
        return ver

    def _prune(self, model: str, version: str, ver: VersionView) -> None:
        """Forget buckets no window needs any more (state keys included)."""
        cfg = self.settings
        ver.all.prune(cfg.time_window_s, 2 * cfg.count_window, cfg.drift_window)
        for (variant, holdout), buckets in ver.by_group.items():
            # a group keeps what its own windows and the version-wide ones need
            for b in buckets.prune(cfg.time_window_s, 2 * cfg.count_window, cfg.drift_window):
                self.state.pop(bucket_key(model, version, variant, holdout, b), None)


DETECTOR_SAMPLE = 200


def _thin(values: list[float], counts: list[int], rng: np.random.Generator) -> list[float]:
    """``values[i]`` repeated ``counts[i]`` times (at most DETECTOR_SAMPLE in all), shuffled."""
    total = sum(counts)
    if total > DETECTOR_SAMPLE:
        counts = [round(c * DETECTOR_SAMPLE / total) for c in counts]
    out = np.repeat(np.asarray(values, dtype=np.float64), counts)
    rng.shuffle(out)
    return [float(v) for v in out]
