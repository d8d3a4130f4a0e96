"""Bring your own model, end to end on the real broker, for a regressor and a classifier
behind a custom preprocessor: register, produce events with kcat, read predictions equal
to the sklearn model's within 1e-4, produce labels and read the window metrics on the
monitor's /metrics equal to sklearn's on the joined set; then the concept drifts, the
monitor requests a retrain, and the retrainer registers and promotes a new sklearn version."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from river.datasets import synth
from sklearn import metrics as skm
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

from streamapp.child import Child
from streamapp.registration import register
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import Label
from streamapp.settings.topics import TopicSettings
from tests.integration.conftest import consume_n, produce_all
from tests.integration.test_monitor import monitors, value, wait_for, wait_ready  # noqa: F401
from tests.integration.test_scoring_process import _env, worker_process
from tests.unit.registration import userpkg

pytestmark = pytest.mark.integration
TRAIN, N = 1500, 200
"""Rows: TRAIN to fit on, N served before the drift, 2N after it."""


@dataclass
class Case:
    name: str
    frame: pd.DataFrame
    y: np.ndarray
    model: Any
    expected: np.ndarray
    """The sklearn model's own outputs on the served rows (value or P(classes))."""
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]]
    register: dict[str, Any] = field(default_factory=dict)


def friedman() -> Case:
    gen = synth.FriedmanDrift(drift_type="gra", position=(20_000, 40_000), seed=42)
    rows = list(islice(gen, 20_000 + 2 * N))
    rows = rows[: TRAIN + N] + rows[20_000:]  # then 2N rows of the drifted concept
    frame = pd.DataFrame([{f"x{k}": v for k, v in x.items()} for x, _ in rows])
    y = np.array([t for _, t in rows])
    model = GradientBoostingRegressor(n_estimators=60, random_state=0)
    model.fit(frame[:TRAIN], y[:TRAIN])

    def metrics(truth: np.ndarray, out: np.ndarray) -> dict[str, float]:
        return {"rmse": float(np.sqrt(skm.mean_squared_error(truth, out[:, 0]))),
                "mae": skm.mean_absolute_error(truth, out[:, 0]),
                "r2": skm.r2_score(truth, out[:, 0])}

    served = frame[TRAIN : TRAIN + N]
    return Case("friedman-gbr", frame, y, model, model.predict(served).reshape(-1, 1), metrics)


def churn() -> Case:
    cols, y = userpkg.churn_data(TRAIN + 3 * N, seed=5)
    frame = pd.DataFrame(cols)
    y[TRAIN + N :] = np.where(y[TRAIN + N :] == "churn", "stay", "churn")  # the concept flips
    model = GradientBoostingClassifier(n_estimators=40, random_state=0)
    model.fit(userpkg.encode(cols)[:TRAIN], y[:TRAIN])
    served = {k: v[TRAIN : TRAIN + N] for k, v in cols.items()}

    def metrics(truth: np.ndarray, out: np.ndarray) -> dict[str, float]:
        predicted = np.asarray(model.classes_)[out.argmax(axis=1)]
        return {"accuracy": skm.accuracy_score(truth, predicted)}

    return Case("churn", frame, y, model, model.predict_proba(userpkg.encode(served)), metrics,
                {"pre": "tests.unit.registration.userpkg:encode"})


@pytest.mark.parametrize("make", [friedman, churn], ids=["regressor", "classifier-with-pre"])
def test_register_serve_measure_drift_retrain(
    make: Callable[[], Case],
    bootstrap: str,
    topic_settings: TopicSettings,
    unique: str,
    tmp_path: Path,
    kcat_env: dict[str, str],
    monitors: Callable[..., Child],  # noqa: F811 - the fixture imported above
) -> None:
    case = make()
    registry = tmp_path / "models"
    register(case.model, case.frame[:TRAIN], case.y[:TRAIN], name=case.name, registry=registry,
             **case.register)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    env = _env(bootstrap, topic_settings, registry, f"g-{unique}", 0,
               STREAMAPP_MODEL__NAME=case.name, STREAMAPP_SAMPLING__LOG_RATE="1.0",
               STREAMAPP_SAMPLING__HOLDOUT_RATE="0.0")
    mon = monitors(STREAMAPP_MODEL__REGISTRY=str(registry),
                   STREAMAPP_MONITORING__COUNT_WINDOW=str(N))
    kcat = ["kcat", "-P", "-b", bootstrap, "-t", topic_settings.events, "-K:", "-l"]
    ids = {"model": case.name, "version": "1"}
    with worker_process(env, tmp_path / "score.log"):
        subprocess.run([*kcat, str(_events_file(tmp_path / "a.txt", case.frame, range(N), t0))],
                       env=kcat_env, check=True, timeout=60)
        records = consume_n(bootstrap, topic_settings.predictions, N, timeout=90)
        predictions = {r.key().decode(): json.loads(r.value()) for r in records}
        assert len(predictions) == N
        assert {p["model_version"] for p in predictions.values()} == {"1"}
        served = np.array([_output(predictions[f"e-{i}"]) for i in range(N)])
        assert np.abs(served - case.expected).max() <= 1e-4

        wait_ready(mon)
        _labels(bootstrap, topic_settings, case.y, range(N), t0)
        wait_for(lambda: value(mon, "streamapp_outcomes_recorded", **ids) == N, what="joined")
        expected = case.metrics(case.y[TRAIN : TRAIN + N], served)
        window = {**ids, "variant": "primary", "holdout": "false", "window": f"count:{N}"}

        def metrics_match() -> bool:
            got = {m: value(mon, "streamapp_model_metric", **window, metric=m) for m in expected}
            return all(abs(got[m] - v) <= 1e-9 * max(1.0, abs(v)) for m, v in expected.items())

        wait_for(metrics_match, what=f"window metrics = {expected}")
        assert value(mon, "streamapp_reference_profile_loaded", **ids) == 1.0

        retrainer = _retrainer(env, tmp_path)
        try:
            drifted, now = range(N, 3 * N), datetime.now(UTC)
            drift_file = _events_file(tmp_path / "b.txt", case.frame, drifted, now)
            subprocess.run([*kcat, str(drift_file)], env=kcat_env, check=True, timeout=60)
            consume_n(bootstrap, topic_settings.predictions, 3 * N, timeout=90)
            _labels(bootstrap, topic_settings, case.y, drifted, now)
            wait_for(lambda: value(mon, "streamapp_retrain_requests_total", **ids,
                                       reason="accuracy_drop") == 1, what="retrain request")
            pointer = registry / case.name / "production"
            wait_for(lambda: pointer.read_text().strip() == "2", timeout=180, what="v2 promoted")
        finally:
            retrainer.kill()
            retrainer.wait()
    old = ModelRegistry(registry).get(case.name, "1").manifest
    new = ModelRegistry(registry).get(case.name, "2").manifest
    assert new.training["estimator"] == old.training["estimator"]
    assert new.trainer == "streamapp.training.sklearn_trainer:train"
    assert new.training["parent_version"] == "1" and new.processing == old.processing


def _output(prediction: dict[str, Any]) -> list[float]:
    scores = prediction["scores"]
    return list(scores) if scores is not None else [prediction["predicted_value"]]


def _events_file(path: Path, frame: pd.DataFrame, idx: range, start: datetime) -> Path:
    """kcat input: ``key:value`` lines of the events of rows ``TRAIN + i``."""
    lines = []
    for i in idx:
        features = {k: (v.item() if isinstance(v, np.generic) else v)
                    for k, v in frame.iloc[TRAIN + i].to_dict().items()}
        body = {"event_id": f"e-{i}", "event_time": (start + timedelta(seconds=i)).isoformat(),
                "features": features}
        lines.append(f"e-{i}:{json.dumps(body)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _labels(bootstrap: str, topics: TopicSettings, y: np.ndarray, idx: range, at: datetime) -> None:
    labels = [Label(event_id=f"e-{i}", label=y[TRAIN + i].item(), label_time=at) for i in idx]
    produce_all(bootstrap, topics.labels,
                [(lab.event_id.encode(), lab.model_dump_json().encode()) for lab in labels])


def _retrainer(env: dict[str, str], tmp_path: Path) -> subprocess.Popen[bytes]:
    settings = {"MIN_SAMPLES": "150", "MIN_EVAL_SAMPLES": "20", "LOOKBACK_S": "600",
                "GROUP_ID": f"retrain-{tmp_path.name}"}
    extra = {f"STREAMAPP_RETRAIN__{k}": v for k, v in settings.items()}
    log = (tmp_path / "retrain.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "streamapp", "retrain"], env={**env, **extra},
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
