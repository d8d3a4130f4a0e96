"""Bring your own model, end to end on the real broker: register an sklearn regressor,
produce events with kcat, read predictions equal to sklearn's, produce labels and read
RMSE / MAE / R² on the monitor's /metrics equal to sklearn's on the joined set; then the
concept drifts, the monitor requests a retrain, and the retrainer registers and promotes
a new scikit-learn version."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from river.datasets import synth
from sklearn import metrics as skm
from sklearn.ensemble import GradientBoostingRegressor

from streamapp.config import TopicSettings
from streamapp.registration import register
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import Label
from tests.integration.conftest import consume_n, produce_all
from tests.integration.test_monitor import Monitor, monitors, wait_for, wait_ready  # noqa: F401
from tests.integration.test_scoring_process import _env, worker_process

pytestmark = pytest.mark.integration
N = 200
DRIFT = 20_000


def test_sklearn_regressor_from_kcat_to_metrics(
    bootstrap: str,
    topic_settings: TopicSettings,
    unique: str,
    tmp_path: Path,
    kcat_env: dict[str, str],
    monitors: Callable[..., Monitor],  # noqa: F811 - the fixture imported above
) -> None:
    gen = synth.FriedmanDrift(drift_type="gra", position=(20_000, 40_000), seed=42)
    rows = list(islice(gen, DRIFT + 2 * N))
    rows = rows[: 1500 + N] + rows[DRIFT:]  # then 2N rows of the drifted concept
    frame = pd.DataFrame([{f"x{k}": v for k, v in x.items()} for x, _ in rows])
    y = np.array([t for _, t in rows])
    t0 = datetime.now(UTC) - timedelta(hours=1)
    model = GradientBoostingRegressor(n_estimators=60, random_state=0).fit(frame[:1500], y[:1500])
    registry = tmp_path / "models"
    register(model, frame[:1500], y[:1500], name="friedman-gbr", registry=registry)

    events = _events_file(tmp_path / "events.txt", frame, range(N), t0)
    env = _env(bootstrap, topic_settings, registry, f"g-{unique}", 0,
               STREAMAPP_MODEL__NAME="friedman-gbr", STREAMAPP_SAMPLING__LOG_RATE="1.0",
               STREAMAPP_SAMPLING__HOLDOUT_RATE="0.0")
    mon = monitors(STREAMAPP_MODEL__REGISTRY=str(registry),
                   STREAMAPP_MONITORING__COUNT_WINDOW=str(N), STREAMAPP_MONITORING__EVAL_EVERY="10")
    kcat = ["kcat", "-P", "-b", bootstrap, "-t", topic_settings.events, "-K:", "-l"]
    with worker_process(env, tmp_path / "score.log"):
        subprocess.run([*kcat, str(events)], env=kcat_env, check=True, timeout=60)
        records = consume_n(bootstrap, topic_settings.predictions, N, timeout=90)
        predictions = {r.key().decode(): json.loads(r.value()) for r in records}
        assert len(predictions) == N
        served = np.array([predictions[f"e-{i}"]["predicted_value"] for i in range(N)])
        expected = model.predict(frame[1500 : 1500 + N])
        assert np.abs(served - expected).max() <= 1e-4
        assert {p["model_version"] for p in predictions.values()} == {"1"}

        wait_ready(mon)
        _labels(bootstrap, topic_settings, y, range(N), t0)
        ids = {"model": "friedman-gbr", "version": "1"}
        wait_for(lambda: mon.value("streamapp_outcomes_recorded", **ids) == N, what="joined")
        _metrics_equal_sklearn(mon, ids, y[1500 : 1500 + N], served)
        assert mon.value("streamapp_reference_profile_loaded", **ids) == 1.0

        # The concept drifts: errors grow, the monitor asks for a retrain, the retrainer
        # trains the manifest's trainer (sklearn) on the joined outcomes and promotes.
        retrainer = _retrainer(env, tmp_path)
        try:
            drifted = range(N, 3 * N)
            now = datetime.now(UTC)
            subprocess.run([*kcat, str(_events_file(tmp_path / "drift.txt", frame, drifted, now))],
                           env=kcat_env, check=True, timeout=60)
            consume_n(bootstrap, topic_settings.predictions, 3 * N, timeout=90)
            _labels(bootstrap, topic_settings, y, drifted, now)
            wait_for(lambda: mon.value("streamapp_retrain_requests_total", **ids,
                                       reason="accuracy_drop") == 1, what="retrain request")
            pointer = registry / "friedman-gbr" / "production"
            wait_for(lambda: pointer.read_text().strip() == "2", timeout=180, what="v2 promoted")
        finally:
            retrainer.kill()
            retrainer.wait()
    new = ModelRegistry(registry).get("friedman-gbr", "2").manifest
    assert new.training["estimator"] == "sklearn.ensemble._gb:GradientBoostingRegressor"
    assert new.trainer == "streamapp.training.sklearn_trainer:train"
    assert new.training["parent_version"] == "1"


def _events_file(path: Path, frame: pd.DataFrame, idx: range, start: datetime) -> Path:
    """kcat input: ``key:value`` lines of events for rows ``1500 + i``."""
    lines = []
    for i in idx:
        body = {"event_id": f"e-{i}", "event_time": (start + timedelta(seconds=i)).isoformat(),
                "features": frame.iloc[1500 + i].to_dict()}
        lines.append(f"e-{i}:{json.dumps(body)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _labels(bootstrap: str, topics: TopicSettings, y: np.ndarray, idx: range, at: datetime) -> None:
    labels = [Label(event_id=f"e-{i}", label=float(y[1500 + i]), label_time=at) for i in idx]
    produce_all(bootstrap, topics.labels,
                [(lab.event_id.encode(), lab.model_dump_json().encode()) for lab in labels])


def _retrainer(env: dict[str, str], tmp_path: Path) -> subprocess.Popen[bytes]:
    settings = {"MIN_SAMPLES": "150", "MIN_EVAL_SAMPLES": "20", "LOOKBACK_S": "600",
                "GROUP_ID": f"retrain-{tmp_path.name}"}
    extra = {f"STREAMAPP_RETRAIN__{k}": v for k, v in settings.items()}
    log = (tmp_path / "retrain.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "streamapp", "retrain"], env={**env, **extra},
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)


def _metrics_equal_sklearn(mon: Monitor, ids: dict[str, str], truth: np.ndarray,
                           served: np.ndarray) -> None:
    window = {**ids, "variant": "primary", "holdout": "false", "window": f"count:{N}"}
    expected_metrics = {
        "rmse": float(np.sqrt(skm.mean_squared_error(truth, served))),
        "mae": skm.mean_absolute_error(truth, served),
        "r2": skm.r2_score(truth, served),
    }

    def metrics_match() -> bool:
        got = {m: mon.value("streamapp_model_metric", **window, metric=m) for m in expected_metrics}
        return all(abs(got[m] - v) <= 1e-9 * max(1.0, abs(v)) for m, v in expected_metrics.items())

    wait_for(metrics_match, what=f"rmse/mae/r2 = {expected_metrics}")
