"""Bring your own model, end to end on the real broker: register an sklearn regressor,
produce events with kcat, read predictions equal to sklearn's, produce labels and read
RMSE / MAE / R² on the monitor's /metrics equal to sklearn's on the joined set."""

from __future__ import annotations

import json
import subprocess
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
from streamapp.schemas import Label
from tests.integration.conftest import consume_n, produce_all
from tests.integration.test_monitor import Monitor, monitors, wait_for, wait_ready  # noqa: F401
from tests.integration.test_scoring_process import _env, worker_process

pytestmark = pytest.mark.integration
N = 200
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_sklearn_regressor_from_kcat_to_metrics(
    bootstrap: str,
    topic_settings: TopicSettings,
    unique: str,
    tmp_path: Path,
    kcat_env: dict[str, str],
    monitors: Callable[..., Monitor],  # noqa: F811 - the fixture imported above
) -> None:
    gen = synth.FriedmanDrift(drift_type="gra", position=(20_000, 40_000), seed=42)
    rows = list(islice(gen, 1500 + N))
    frame = pd.DataFrame([{f"x{k}": v for k, v in x.items()} for x, _ in rows])
    y = np.array([t for _, t in rows])
    model = GradientBoostingRegressor(n_estimators=60, random_state=0).fit(frame[:1500], y[:1500])
    registry = tmp_path / "models"
    register(model, frame[:1500], y[:1500], name="friedman-gbr", registry=registry)

    events = tmp_path / "events.txt"
    lines = []
    for i in range(N):
        x = frame.iloc[1500 + i].to_dict()
        body = {"event_id": f"e-{i}", "event_time": (T0 + timedelta(seconds=i)).isoformat(),
                "features": x}
        lines.append(f"e-{i}:{json.dumps(body)}")
    events.write_text("\n".join(lines) + "\n")
    env = _env(bootstrap, topic_settings, registry, f"g-{unique}", 0,
               STREAMAPP_MODEL__NAME="friedman-gbr", STREAMAPP_SAMPLING__LOG_RATE="1.0",
               STREAMAPP_SAMPLING__HOLDOUT_RATE="0.0")
    mon = monitors(STREAMAPP_MODEL__REGISTRY=str(registry))
    with worker_process(env, tmp_path / "score.log"):
        subprocess.run(
            ["kcat", "-P", "-b", bootstrap, "-t", topic_settings.events, "-K:", "-l", str(events)],
            env=kcat_env, check=True, timeout=60,
        )
        records = consume_n(bootstrap, topic_settings.predictions, N, timeout=90)
    predictions = {r.key().decode(): json.loads(r.value()) for r in records}
    assert len(predictions) == N
    served = np.array([predictions[f"e-{i}"]["predicted_value"] for i in range(N)])
    expected = model.predict(frame[1500:])
    assert np.abs(served - expected).max() <= 1e-4
    assert {p["model_version"] for p in predictions.values()} == {"1"}

    wait_ready(mon)
    labels = [Label(event_id=f"e-{i}", label=float(y[1500 + i]), label_time=T0) for i in range(N)]
    produce_all(bootstrap, topic_settings.labels,
                [(lab.event_id.encode(), lab.model_dump_json().encode()) for lab in labels])
    ids = {"model": "friedman-gbr", "version": "1"}
    wait_for(lambda: mon.value("streamapp_outcomes_recorded", **ids) == N, what="joined")
    truth = y[1500:]
    window = {**ids, "variant": "primary", "holdout": "false", "window": "count:100000"}
    expected_metrics = {
        "rmse": float(np.sqrt(skm.mean_squared_error(truth, served))),
        "mae": skm.mean_absolute_error(truth, served),
        "r2": skm.r2_score(truth, served),
    }

    def metrics_match() -> bool:
        got = {m: mon.value("streamapp_model_metric", **window, metric=m) for m in expected_metrics}
        return all(abs(got[m] - v) <= 1e-9 * max(1.0, abs(v)) for m, v in expected_metrics.items())

    wait_for(metrics_match, what=f"rmse/mae/r2 = {expected_metrics}")
    assert mon.value("streamapp_reference_profile_loaded", **ids) == 1.0
