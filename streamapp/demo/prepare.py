"""Demo start-up pieces: options, the registry copy, and the workers' environment."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamapp.config import Settings
from streamapp.demo.traffic import TrafficPlan
from streamapp.demo.wire import worker_formats
from streamapp.registry.registry import ModelRegistry, ModelVersion
from streamapp.settings.topics import TopicSettings
from streamapp.training.synthetic import AGRAWAL_MODEL

StatusFn = Callable[[str, int, int], None]
DEMO_LOG_RATE = 0.5
DEMO_COUNT_WINDOW = 500
"""The monitor's count window in the demo (the live view follows its accuracy)."""
DEMO_VERDICT_MIN_SAMPLES = 200
"""Labelled shadow pairs at the monitor's first verdict look (a few seconds of traffic)."""
LABEL_SHARE = 0.9


@dataclass(frozen=True)
class DemoOptions:
    """What the user chose on the command line."""

    duration_s: float = 180.0
    rate: float = 150.0
    seed: int = 1
    out: Path = Path("demo-out")
    drift_at_s: float | None = None
    """Default: a third of the duration."""
    recovery_threshold: float = 0.85
    """Accuracy the promoted version must reach on drifted traffic for exit code 0."""
    min_recovery_predictions: int = 100
    drain_s: float = 20.0
    """After the traffic: how long to wait for the last predictions."""
    startup_timeout_s: float = 180.0
    config_file: str | None = None
    """``--config`` of ``streamapp demo``, passed on to the workers as ``STREAMAPP_CONFIG``."""
    format: str = "json"
    """Events, labels and predictions: ``json`` (streamapp's envelope) or ``avro`` (the
    Confluent wire format through a Schema Registry)."""

    def plan(self) -> TrafficPlan:
        drift = self.drift_at_s if self.drift_at_s is not None else self.duration_s / 3
        return TrafficPlan(
            rate=self.rate, duration_s=self.duration_s, drift_at_s=drift, seed=self.seed
        )

    def retrain_min_samples(self) -> int:
        """Joined outcomes the retrainer waits for: about 12 s of drifted traffic, 400..1500.

        >>> DemoOptions(rate=200).retrain_min_samples(), DemoOptions(rate=20).retrain_min_samples()
        (1080, 400)
        """
        per_second = self.rate * DEMO_LOG_RATE * LABEL_SHARE
        return int(max(400, min(1500, per_second * 12)))


def prepare_registry(source: Path, target: Path, seed: int, status: StatusFn) -> ModelVersion:
    """A fresh writable registry in ``target`` holding the demo classifier as production.

    Version 1 is copied from the committed registry when there, else trained
    (``train_demo_models``, progress through ``status``). ``source`` is never modified.
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    registry = ModelRegistry(target)
    committed = source / AGRAWAL_MODEL / "1"
    if committed.is_dir():
        shutil.copytree(committed, target / AGRAWAL_MODEL / "1")
        status("copied committed version 1", 1, 1)
    else:
        from streamapp.training.demo import train_demo_models

        train_demo_models(registry, seed=7, status=status)
    registry.promote(AGRAWAL_MODEL, "1")
    return registry.get(AGRAWAL_MODEL, "1")


def child_env(
    settings: Settings,
    bootstrap: str,
    registry: Path,
    run_id: str,
    embedded: bool,
    options: DemoOptions,
    schema_registry_url: str | None = None,
) -> dict[str, str]:
    """Environment shared by the demo's workers: cluster, topics, registry, topic formats
    (``options.format``; with ``avro`` the Schema Registry at ``schema_registry_url``), demo
    tuning.

    Explicit ``STREAMAPP_*`` variables of the user are kept unless the demo must own
    them (bootstrap, registry, model, group ids, ports, topic formats). Raises ValueError
    for ``avro`` without a registry URL.
    """
    env = dict(os.environ)
    env.update(
        {
            "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "STREAMAPP_MODEL__REGISTRY": str(registry.resolve()),
            "STREAMAPP_MODEL__NAME": AGRAWAL_MODEL,
            "STREAMAPP_MODEL__POINTER": "production",
            "STREAMAPP_LOG__FORMAT": "json",
            "STREAMAPP_SCORING__GROUP_ID": f"streamapp-demo-scoring-{run_id}",
            "STREAMAPP_MONITORING__APP_ID": f"streamapp-demo-monitor-{run_id}",
            "STREAMAPP_MONITORING__STATE_DIR": str((options.out / "monitor-state").resolve()),
            # the faust control plane's start stall on Tansu: re-execute after 25 s
            "STREAMAPP_RETRAIN__GROUP_ID": f"streamapp-demo-retrainer-{run_id}",
        }
    )
    env.update(worker_formats(options.format, schema_registry_url))
    if options.config_file:
        env["STREAMAPP_CONFIG"] = options.config_file
    for name in TopicSettings.model_fields:
        env[f"STREAMAPP_TOPICS__{name.upper()}"] = str(getattr(settings.topics, name))
    tuning = {
        "STREAMAPP_SAMPLING__LOG_RATE": str(DEMO_LOG_RATE),
        "STREAMAPP_MONITORING__LABEL_TTL_S": "30",
        "STREAMAPP_MONITORING__COUNT_WINDOW": str(DEMO_COUNT_WINDOW),
        "STREAMAPP_MONITORING__TIME_WINDOW_S": "30",
        "STREAMAPP_MONITORING__DRIFT_WINDOW": "500",
        "STREAMAPP_MONITORING__POLICY__MIN_SAMPLES": "200",
        "STREAMAPP_RETRAIN__MIN_SAMPLES": str(options.retrain_min_samples()),
        "STREAMAPP_RETRAIN__MIN_EVAL_SAMPLES": "50",
        "STREAMAPP_RETRAIN__MAX_WAIT_S": str(max(60.0, options.duration_s)),
        # a retrained version goes to the candidate pointer, is scored in shadow next to the
        # primary, and the retrainer acts on the monitor's verdict (promote: production moves)
        "STREAMAPP_RETRAIN__PROMOTE_TO": "candidate",
        "STREAMAPP_RETRAIN__PROMOTION_ACTOR": "retrainer",
        "STREAMAPP_SAMPLING__CANDIDATE_MODE": "shadow",
        "STREAMAPP_MONITORING__VERDICTS__MIN_SAMPLES": str(DEMO_VERDICT_MIN_SAMPLES),
    }
    for key, value in tuning.items():
        env.setdefault(key, value)
    return env
