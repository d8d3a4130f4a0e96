"""Settings of the monitor (``STREAMAPP_MONITORING__*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class PolicySettings(BaseModel):
    """When a model version gets a retrain request: thresholds, hysteresis, cooldown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_samples: int = Field(default=500, ge=1)
    """Outcomes (accuracy) or predictions (drift) a window needs before it can trigger."""
    accuracy_drop: float = Field(default=0.05, ge=0)
    """Trigger when window accuracy < baseline accuracy - this (classification)."""
    accuracy_recover: float = Field(default=0.025, ge=0)
    """Recovered when window accuracy >= baseline - this (hysteresis; <= accuracy_drop)."""
    previous_drop: float | None = Field(default=0.1, ge=0)
    """Trigger when window accuracy < the previous full window's accuracy - this (None: off)."""
    error_increase: float = Field(default=0.5, ge=0)
    """Regression: trigger when window RMSE > baseline RMSE x (1 + this)."""
    error_recover: float = Field(default=0.25, ge=0)
    """Regression: recovered when window RMSE <= baseline RMSE x (1 + this)."""
    psi_threshold: float = Field(default=0.25, ge=0)
    """Feature drift: PSI above this counts a feature as drifted."""
    psi_recover: float = Field(default=0.1, ge=0)
    """Feature drift is over when every feature's PSI is at or below this."""
    drifted_features: int = Field(default=2, ge=1)
    """Trigger feature drift when at least this many features are drifted."""
    prediction_psi_threshold: float = Field(default=0.25, ge=0)
    """Trigger prediction drift when the prediction PSI is above this."""
    calibrated_drift: bool = True
    """Use the version's calibrated drift thresholds (profile ``calibration``, for the largest
    calibrated window <= ``drift_window``) instead of ``psi_threshold`` / ``drifted_features`` /
    ``prediction_psi_threshold`` when its profile has them: one drifted column fires."""
    calibrated_recover: float = Field(default=0.5, ge=0, le=1)
    """Calibrated drift is over when every column's PSI is at or below this share of its
    threshold (hysteresis)."""
    estimated_accuracy_drop: float | None = Field(default=None, ge=0)
    """Trigger when the label-free estimated accuracy of the drift window < baseline accuracy -
    this, before any label arrives (None: off; needs a profile ``estimator``)."""
    detector_trigger: bool = False
    """Also open an incident on an ADWIN alarm on the error stream (error rate rising)."""
    cooldown_s: float = Field(default=3600.0, ge=0)
    """A still-open incident is re-requested (new incident) only after this many seconds."""


class VerdictSettings(BaseModel):
    """Canary and shadow verdicts: candidate vs primary on joined labels (docs/monitoring.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """Compare a candidate (canary or shadow) with the primary and publish decisions."""
    alpha: float = Field(default=0.05, gt=0, lt=1)
    """Overall chance of a wrong promote / roll back when the versions are equal (two-sided),
    spread evenly over the looks (Bonferroni)."""
    min_samples: int = Field(default=400, ge=10)
    """Samples (shadow: labelled pairs; canary: candidate outcomes) at the first look; look k
    is at ``min_samples * 2**k``."""
    looks: int = Field(default=8, ge=1, le=30)
    """Looks at most; without a significant difference by the last one the decision stays
    ``keep_collecting`` (no detectable difference)."""
    bootstrap_resamples: int = Field(default=2000, ge=200)
    """Resamples of the paired bootstrap (regression shadow verdicts)."""

    def look_alpha(self) -> float:
        """The two-sided level each look tests at.

        >>> VerdictSettings(alpha=0.05, looks=5).look_alpha()
        0.01
        """
        return self.alpha / self.looks


class MonitoringSettings(BaseModel):
    """Label join (data plane), windows and retraining policy (control plane) of the monitor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    app_id: str = "streamapp-monitor"
    """Consumer group of the data plane (``<app_id>``), faust app id of the control plane
    (``<app_id>-control``) and prefix of the join-state changelog (``<app_id>-join-changelog``)."""
    processes: int = Field(default=1, ge=1, le=1024)
    """Worker processes ``streamapp monitor`` runs in the group; above 1 a supervisor starts
    them (each with ``state_dir/process-<i>``), restarts a crashed one, forwards SIGTERM.
    One monitor process joins labels at about 1.3x one scoring process's events/s on
    the same cores (``benchmarks/README.md``); two give headroom."""
    restart_backoff_s: float = Field(default=1.0, gt=0)
    """Supervisor: first delay before restarting a crashed process (doubles, up to 30 s)."""
    stop_timeout_s: float = Field(default=30.0, gt=0)
    """Supervisor: how long a process may take to stop (its last checkpoint) before SIGKILL."""
    state_dir: Path = Path("monitor-state")
    """Local RocksDB stores, one directory per join partition (rebuilt from the changelog).
    A relative path (the default, ``monitor-state``) is relative to the working directory
    of ``streamapp monitor``; set an absolute path (a volume in containers) in production."""
    state_memory_mb: int = Field(default=64, ge=8)
    """Memory bound of the join stores (RocksDB write buffers + block cache, all partitions)."""
    label_ttl_s: float = Field(default=3600.0, gt=0)
    """Event-time seconds a logged prediction (or an early label) waits for its partner."""
    max_label_bytes: int = Field(default=16 * 1024, ge=64)
    """Labels larger than this go to the dead-letter topic (too_large)."""
    checkpoint_interval_s: float = Field(default=1.0, gt=0)
    """Seconds between checkpoints: state + offsets durable, summaries emitted, expiry run."""
    fetch_size: int = Field(default=20_000, ge=1)
    """Most records one fetch returns."""
    bucket_s: float = Field(default=10.0, gt=0)
    """Event-time bucket of the mergeable summaries (windows are whole buckets)."""
    count_window: int = Field(default=2000, ge=1)
    """Rolling accuracy over the newest buckets holding at least N joined outcomes."""
    time_window_s: float = Field(default=900.0, gt=0)
    """Rolling accuracy over the buckets within this many event-time seconds of the newest."""
    drift_window: int = Field(default=2000, ge=10)
    """Drift statistics over the newest buckets holding at least N logged predictions."""
    gauge_interval_s: float = Field(default=1.0, gt=0)
    """Seconds between refreshes of the window and drift gauges (the policy runs per summary)."""
    policy: PolicySettings = Field(default_factory=PolicySettings)
    """Default retraining policy."""
    policies: dict[str, PolicySettings] = Field(default_factory=dict)
    """Per-model policy overrides (model name -> policy)."""
    verdicts: VerdictSettings = Field(default_factory=VerdictSettings)
    """Canary and shadow verdicts (promotion decisions)."""
    session_timeout_ms: int = Field(default=6000, ge=1000)
    """Data-plane consumer session timeout (failover time after a crash)."""
    heartbeat_interval_ms: int = Field(default=1000, ge=100)
    """Data-plane consumer heartbeat interval."""
    broker_session_timeout_s: float = Field(default=6.0, gt=0)
    """faust broker_session_timeout (control plane)."""
    broker_rebalance_timeout_s: float = Field(default=6.0, gt=0)
    """faust broker_rebalance_timeout (control plane)."""
    broker_heartbeat_interval_s: float = Field(default=1.0, gt=0)
    """faust broker_heartbeat_interval (control plane)."""
    web_port: int | None = Field(default=None, ge=0, le=65535)
    """faust's own web server port on 127.0.0.1; None disables it (/metrics is on http.port)."""

    def policy_for(self, model: str) -> PolicySettings:
        """The policy of one model: its override, else the default."""
        return self.policies.get(model, self.policy)

    @property
    def changelog_topic(self) -> str:
        """The join-state changelog topic (one partition per join partition).

        >>> MonitoringSettings(app_id="m").changelog_topic
        'm-join-changelog'
        """
        return f"{self.app_id}-join-changelog"
