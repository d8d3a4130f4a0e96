"""Settings of the monitor (``STREAMAPP_MONITORING__*``)."""

from __future__ import annotations

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
    detector_trigger: bool = False
    """Also open an incident on an ADWIN alarm on the error stream (error rate rising)."""
    cooldown_s: float = Field(default=3600.0, ge=0)
    """A still-open incident is re-requested (new incident) only after this many seconds."""


class MonitoringSettings(BaseModel):
    """Label join, windows and retraining policy of ``streamapp monitor``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    app_id: str = "streamapp-monitor"
    """faust app id (consumer group and changelog topic prefix)."""
    label_ttl_s: float = Field(default=3600.0, gt=0)
    """How long a logged prediction (or an early label) waits for its partner."""
    max_label_bytes: int = Field(default=16 * 1024, ge=64)
    """Labels larger than this are counted as malformed and dropped."""
    count_window: int = Field(default=2000, ge=1)
    """Rolling accuracy over the last N joined outcomes (per model/version/variant/holdout)."""
    time_window_s: float = Field(default=900.0, gt=0)
    """Rolling accuracy over outcomes whose event time is within this many seconds of the newest."""
    drift_window: int = Field(default=2000, ge=10)
    """Drift statistics over the last N logged predictions per model version."""
    eval_every: int = Field(default=100, ge=1)
    """Recompute gauges and run the policy every N summaries per model version."""
    policy: PolicySettings = Field(default_factory=PolicySettings)
    """Default retraining policy."""
    policies: dict[str, PolicySettings] = Field(default_factory=dict)
    """Per-model policy overrides (model name -> policy)."""
    embedded_profile: bool = False
    """Embedded-broker profile: faust producer_max_batch_size=1 (exact Table recovery on Tansu)."""
    broker_session_timeout_s: float = Field(default=6.0, gt=0)
    """faust broker_session_timeout (6 s suits the embedded broker and tests)."""
    broker_rebalance_timeout_s: float = Field(default=6.0, gt=0)
    """faust broker_rebalance_timeout."""
    broker_heartbeat_interval_s: float = Field(default=1.0, gt=0)
    """faust broker_heartbeat_interval."""
    startup_timeout_s: float = Field(default=120.0, gt=0)
    """Watchdog: a worker not ready this long after start (its first group assignment and
    table recovery never completed) logs an error and re-executes itself. Raise it when
    large tables take longer than this to recover from their changelogs."""
    startup_restarts: int = Field(default=3, ge=0)
    """How many watchdog re-executions before ``streamapp monitor`` exits with code 3."""
    web_port: int | None = Field(default=None, ge=0, le=65535)
    """faust's own web server port on 127.0.0.1; None disables it (/metrics is on http.port)."""

    def policy_for(self, model: str) -> PolicySettings:
        """The policy of one model: its override, else the default."""
        return self.policies.get(model, self.policy)
