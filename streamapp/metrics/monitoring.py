"""Metrics of the MONITORING role (names per docs/metrics.md, monitoring section).

Join (data-plane) metrics are exported by every monitor worker for the join
partitions it owns (sum them in PromQL); the window gauges, drift and policy
metrics by the worker whose control plane owns the model version's summaries
partition. Partition labels are bounded by ``topics.partitions``.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_OUT = ["model", "version", "variant", "holdout"]


class JoinMetrics:
    """Label-join counters of one worker."""

    def __init__(self, prometheus: CollectorRegistry = REGISTRY) -> None:
        self.joins = Counter(
            "streamapp_label_joins_total",
            "Predictions joined with their label.",
            ["model", "version", "variant"],
            registry=prometheus,
        )
        self.expired = Counter(
            "streamapp_label_expired_total",
            "Logged predictions that expired without a label.",
            ["model", "version"],
            registry=prometheus,
        )
        self.late = Counter(
            "streamapp_labels_late_total",
            "Labels that arrived after their prediction expired.",
            registry=prometheus,
        )
        self.unmatched = Counter(
            "streamapp_labels_unmatched_total",
            "Labels that expired without a prediction.",
            registry=prometheus,
        )
        self.duplicates = Counter(
            "streamapp_join_duplicates_total",
            "Duplicate predictions / labels ignored.",
            ["kind"],
            registry=prometheus,
        )
        self.malformed = Counter(
            "streamapp_labels_malformed_total",
            "Labels or logged predictions that failed validation (sent to the dead-letter topic).",
            registry=prometheus,
        )
        self.consumed = Counter(
            "streamapp_monitor_records_total",
            "Records consumed by the join data plane (before sampling and validation).",
            ["input"],
            registry=prometheus,
        )
        self.outside_sample = Counter(
            "streamapp_labels_outside_sample_total",
            "Labels dropped before any state lookup: their event id is not in the logged sample.",
            registry=prometheus,
        )
        self.dead_letter = Counter(
            "streamapp_monitor_dead_letter_total",
            "Monitor inputs sent to the dead-letter topic, by reason.",
            ["input", "reason"],
            registry=prometheus,
        )
        self.state_keys = Gauge(
            "streamapp_join_state_keys",
            "Estimated keys in the join store of a partition (entries + expiry index).",
            ["partition"],
            registry=prometheus,
        )
        self.state_bytes = Gauge(
            "streamapp_join_state_bytes",
            "Bytes of the join store of a partition (SST files + memtables).",
            ["partition"],
            registry=prometheus,
        )
        self.held = Gauge(
            "streamapp_join_held",
            "Pending entries waiting for their partner, per partition and kind.",
            ["partition", "kind"],
            registry=prometheus,
        )
        self.watermark_lag = Gauge(
            "streamapp_join_watermark_lag_seconds",
            "Wall clock minus the largest event time seen on a partition.",
            ["partition"],
            registry=prometheus,
        )
        self.checkpoint = Histogram(
            "streamapp_monitor_checkpoint_seconds",
            "Checkpoint duration, seal to commit (outcomes and changelog acknowledged, marker "
            "acknowledged, store written); the join loop does not wait for it.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=prometheus,
        )
        self.restore = Histogram(
            "streamapp_monitor_restore_seconds",
            "Time to open a join partition and catch its store up with the changelog.",
            buckets=(0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=prometheus,
        )
        self.voided = Counter(
            "streamapp_monitor_voided_writes",
            "Changelog writes of a previous owner's unfinished checkpoint, voided on restore.",
            registry=prometheus,
        )
        self.store_discarded = Counter(
            "streamapp_monitor_store_discarded_total",
            "Join checkpoints discarded at assignment: they cannot belong to the log (another "
            "cluster or topic incarnation, an offset past the end); store: local or changelog.",
            ["reason", "store"],
            registry=prometheus,
        )
        self.summaries = Counter(
            "streamapp_monitor_summaries_total",
            "Summaries emitted by the data plane (re-emitted after a restore included).",
            registry=prometheus,
        )
        self.lag = Histogram(
            "streamapp_label_lag_seconds",
            "Label time minus event time of joined outcomes.",
            ["model"],
            buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400),
            registry=prometheus,
        )


class AggregateMetrics:
    """Global window, drift and policy metrics (the summaries-topic owner)."""

    def __init__(self, prometheus: CollectorRegistry = REGISTRY) -> None:
        self.coverage = Gauge(
            "streamapp_label_coverage_ratio",
            "Joined / (joined + expired) since the version was first seen.",
            ["model", "version"],
            registry=prometheus,
        )
        self.recorded = Gauge(
            "streamapp_outcomes_recorded",
            "Distinct joined outcomes recorded by the policy agent (persisted across restarts).",
            ["model", "version"],
            registry=prometheus,
        )
        self.model_metric = Gauge(
            "streamapp_model_metric",
            "Rolling model quality metric over a window.",
            [*_OUT, "window", "metric"],
            registry=prometheus,
        )
        self.outcomes = Counter(
            "streamapp_outcomes_total",
            "Joined outcomes counted in the mergeable sums.",
            _OUT,
            registry=prometheus,
        )
        self.confusion = Counter(
            "streamapp_confusion_total",
            "Confusion counts (classification).",
            [*_OUT, "actual", "predicted"],
            registry=prometheus,
        )
        self.abs_error = Counter(
            "streamapp_regression_abs_error",
            "Sum of |y - y_hat| (regression).",
            _OUT,
            registry=prometheus,
        )
        self.sq_error = Counter(
            "streamapp_regression_squared_error",
            "Sum of (y - y_hat)^2 (regression).",
            _OUT,
            registry=prometheus,
        )
        self.feature_drift = Gauge(
            "streamapp_feature_drift",
            "Drift statistic of the rolling window vs the reference profile.",
            ["model", "version", "feature", "statistic"],
            registry=prometheus,
        )
        self.prediction_drift = Gauge(
            "streamapp_prediction_drift",
            "Drift statistic of the prediction distribution vs the reference profile.",
            ["model", "version", "statistic"],
            registry=prometheus,
        )
        self.profile_loaded = Gauge(
            "streamapp_reference_profile_loaded",
            "1 when the version's manifest and reference profile loaded; 0: no drift for it.",
            ["model", "version"],
            registry=prometheus,
        )
        self.drift_samples = Gauge(
            "streamapp_drift_window_samples",
            "Samples in the current drift window.",
            ["model", "version"],
            registry=prometheus,
        )
        self.detector_alarms = Counter(
            "streamapp_drift_detector_alarms_total",
            "Streaming detector alarms.",
            ["model", "version", "detector", "signal"],
            registry=prometheus,
        )
        self.data_quality = Counter(
            "streamapp_data_quality_total",
            "Missing / out-of-range / invalid feature values seen by the monitor.",
            ["model", "version", "feature", "problem"],
            registry=prometheus,
        )
        self.retrain_requests = Counter(
            "streamapp_retrain_requests_total",
            "Retrain requests emitted (one per incident).",
            ["model", "version", "reason"],
            registry=prometheus,
        )
        self.incident_active = Gauge(
            "streamapp_retrain_incident_active",
            "1 while an incident is open (between request and recovery).",
            ["model", "version"],
            registry=prometheus,
        )
        self.policy_threshold = Gauge(
            "streamapp_policy_threshold",
            "The retraining policy's thresholds for a version (monitoring.policy.*, resolved "
            "against the manifest's baseline); the alert rules compare against them.",
            ["model", "version", "threshold"],
            registry=prometheus,
        )
        _trigger = ["model", "version", "trigger", "feature"]
        self.trigger_statistic = Gauge(
            "streamapp_policy_trigger_statistic",
            "What a policy trigger measured at its last evaluation (feature: the drift trigger's "
            "column, else empty); NaN while its window is below min_samples.",
            _trigger,
            registry=prometheus,
        )
        self.trigger_threshold = Gauge(
            "streamapp_policy_trigger_threshold",
            "The bound a policy trigger compared its statistic with: bound fire (it fires beyond "
            "it) or recover (an open incident closes only once every statistic is inside this).",
            [*_trigger, "bound"],
            registry=prometheus,
        )
        self.trigger_firing = Gauge(
            "streamapp_policy_trigger_firing",
            "1 when a policy trigger fired at its last evaluation, else 0.",
            ["model", "version", "trigger"],
            registry=prometheus,
        )
        self.estimated = Gauge(
            "streamapp_model_metric_estimated",
            "Label-free estimate of a quality metric over the drift window's logged predictions "
            "(CBPE for classification, DLE for regression).",
            ["model", "version", "window", "metric"],
            registry=prometheus,
        )
        self.estimation_error = Gauge(
            "streamapp_model_metric_estimation_error",
            "Estimated minus realized metric over the outcome count window's buckets.",
            ["model", "version", "window", "metric"],
            registry=prometheus,
        )
        self.drift_threshold = Gauge(
            "streamapp_drift_calibrated_threshold",
            "Calibrated drift threshold (PSI) of a trigger's feature (or prediction) for the "
            "drift window.",
            ["model", "version", "trigger", "feature"],
            registry=prometheus,
        )
        self.drift_target = Gauge(
            "streamapp_drift_target_run_length_events",
            "Calibrated trigger's target: expected stationary events between false alarms.",
            ["model", "version", "trigger"],
            registry=prometheus,
        )
        _cmp = ["model", "version", "primary_version", "mode"]
        self.candidate_verdict = Gauge(
            "streamapp_candidate_verdict",
            "Canary / shadow verdict of a candidate version against the primary on joined "
            "labels: 1 promote, 0 keep collecting, -1 roll back.",
            _cmp,
            registry=prometheus,
        )
        self.candidate_effect = Gauge(
            "streamapp_candidate_effect",
            "Candidate minus primary accuracy (or primary minus candidate MAE): positive when "
            "the candidate is better; bound estimate / lower / upper (interval at the look level).",
            [*_cmp, "metric", "bound"],
            registry=prometheus,
        )
        self.candidate_p_value = Gauge(
            "streamapp_candidate_p_value",
            "Two-sided p-value of 'candidate and primary are equal' on the samples so far.",
            _cmp,
            registry=prometheus,
        )
        self.candidate_samples = Gauge(
            "streamapp_candidate_samples",
            "Samples in the comparison: labelled pairs (shadow) or outcomes in matched buckets "
            "(canary), per arm (candidate / primary).",
            [*_cmp, "arm"],
            registry=prometheus,
        )
        self.candidate_looks = Gauge(
            "streamapp_candidate_looks",
            "Looks taken (tests at min_samples * 2**k samples); at monitoring.verdicts.looks "
            "without a difference the verdict stays keep collecting.",
            _cmp,
            registry=prometheus,
        )
        self.promotion_decisions = Counter(
            "streamapp_promotion_decisions_total",
            "Promotion decisions published (one per change of a candidate's verdict).",
            ["model", "version", "mode", "decision"],
            registry=prometheus,
        )
