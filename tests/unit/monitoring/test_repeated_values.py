"""Drift triggers stay calibrated on data whose values repeat, through the live encodings.

A model is registered from tabular data shaped like users' data: prices with few
decimals, one-decimal readings, small counts, an integer category and a boolean,
and scored by tree ensembles whose outputs repeat. A stationary stream from the same
generator then goes through the real scoring worker (in-memory source and sink: the
producer's JSON, the scorer's decode, float32 encoding, ONNX Runtime and the
prediction-log encoding) and the monitor's decode and histograms. Each drift trigger
(feature drift, prediction drift) is evaluated on consecutive windows against its
calibrated thresholds. The calibration makes an alarm in a block of ``W`` events at
most ``W / target`` likely, so the alarms must stay within that rate's Poisson bound.

Before the profile and the monitor binned one numeric representation, edges at
``float32(0.7) = 0.69999998`` put a live ``0.7`` in the next bin and every window
alarmed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from scipy.stats import poisson
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)

from streamapp.config import Settings
from streamapp.monitoring import stats
from streamapp.monitoring.records import LoggedRecord, decode_prediction
from streamapp.monitoring.spec import PREDICTION, ModelSpec
from streamapp.registration import register
from streamapp.registry.manifest import ReferenceProfile
from streamapp.scoring.worker import ScoringWorker
from streamapp.testing import InMemorySink, InMemorySource

W = 2_000
TARGET = 40_000.0
"""Expected events between false alarms: a window alarms with probability <= W / TARGET."""
EVENTS = 40_000
FAMILIES = {
    "gradient-boosting": lambda seed: GradientBoostingClassifier(
        n_estimators=8, max_depth=2, random_state=seed),
    "random-forest": lambda seed: RandomForestClassifier(
        n_estimators=4, max_depth=3, min_samples_leaf=50, random_state=seed),
    "gradient-boosting-regression": lambda seed: GradientBoostingRegressor(
        n_estimators=8, max_depth=2, random_state=seed),
}
"""Small tree ensembles: few distinct scores, each repeated by many events."""
TIME = datetime(2026, 12, 1, tzinfo=UTC).isoformat()


def users_data(n: int, seed: int, places: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features whose values repeat, a class label and a regression target: prices from a
    catalogue of 15 (``places`` decimals), one-decimal readings, counts, a level, a flag."""
    shape = np.random.default_rng(places)  # one catalogue per decimal count
    catalogue = np.round(np.exp(shape.normal(2.5, 0.6, 15)), places)
    shares = shape.dirichlet(np.full(15, 2.0))
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "price": rng.choice(catalogue, size=n, p=shares),
        "reading": np.round(rng.normal(20.0, 0.6, n), 1),
        "count": rng.poisson(3, n),
        "level": rng.integers(0, 4, n),
        "flag": rng.random(n) < 0.3,
    })
    signal = (0.1 * (frame["price"] - 12) + 0.8 * (frame["reading"] - 20) + 0.3 * frame["count"]
              - 0.4 * frame["level"] + frame["flag"]).to_numpy(dtype=np.float64)
    y_class = (signal + rng.logistic(size=n) > 0.9).astype(np.int64)
    y_value = signal + rng.normal(0, 0.5, n)
    return frame, y_class, y_value


def events(frame: pd.DataFrame) -> list[tuple[bytes, bytes]]:
    """The producer's JSON: Python numbers and booleans, as a user's producer writes them."""
    out = []
    for i, row in enumerate(frame.to_dict("records")):
        key = f"e{i}"
        out.append((key.encode(), orjson.dumps(
            {"event_id": key, "event_time": TIME, "features": row})))
    return out


def logged(registry: Path, name: str, records: list[tuple[bytes, bytes]]) -> list[LoggedRecord]:
    """Every event through the scoring worker; its prediction log as the monitor decodes it."""
    cfg = Settings(
        kafka={"bootstrap_servers": "unused:9092"},
        topics={"events": "events"},
        model={"registry": str(registry), "name": name, "device": "cpu"},
        sampling={"log_rate": 1.0, "holdout_rate": 0.0},
    )
    source, sink = InMemorySource(records, 2, "events"), InMemorySink()
    worker = ScoringWorker(cfg, source, sink, registry=CollectorRegistry())
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    waiter = threading.Event()
    log_topic = cfg.topics.prediction_log
    for _ in range(6000):
        if len(sink.values(log_topic)) >= len(records) and worker.inflight_events == 0:
            break
        waiter.wait(0.01)
    worker.stop_event.set()
    thread.join(30)
    values = sink.values(log_topic)
    assert len(values) == len(records), "every event scored and logged"
    return [decode_prediction(v) for v in values]


def alarms(spec: ModelSpec, profile: ReferenceProfile,
           preds: list[LoggedRecord]) -> dict[str, tuple[int, int]]:
    """Per trigger: (windows that alarmed, windows evaluated) over consecutive windows of W."""
    assert profile.calibration is not None
    cal = profile.calibration.for_window(W)
    assert cal is not None and cal.feature_drift and cal.prediction_drift
    triggers = {"feature_drift": cal.feature_drift, "prediction_drift": cal.prediction_drift}
    expected = {c.name: c.expected for c in [*spec.columns, spec.prediction]}
    out = {name: (0, 0) for name in triggers}
    for start in range(0, len(preds) - W + 1, W):
        hist, quality = spec.histograms(preds[start:start + W])
        assert quality == {}, f"values the monitor could not bin: {quality}"
        for name, trig in triggers.items():
            fired = any(stats.psi(expected[col], hist[col]) > limit
                        for col, limit in trig.thresholds.items())
            hits, windows = out[name]
            out[name] = (hits + fired, windows + 1)
    return out


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    places=st.integers(0, 2),
    family=st.sampled_from(sorted(FAMILIES)),
    seed=st.integers(0, 10_000),
)
def test_false_alarms_stay_within_target_on_repeated_values(
    tmp_path_factory: Any, places: int, family: str, seed: int
) -> None:
    registry = tmp_path_factory.mktemp("registry")
    train, y_class, y_value = users_data(4_000, seed, places)
    hold, h_class, h_value = users_data(2_000, seed + 1, places)
    regression = family.endswith("regression")
    y, y_hold = (y_value, h_value) if regression else (y_class, h_class)
    model = FAMILIES[family](seed).fit(train.to_numpy(dtype=np.float32), y)
    made = register(
        model, train, y, name="users", registry=registry, categorical=["level"],
        holdout=hold, y_holdout=y_hold, drift_target=TARGET, drift_windows=(W,), seed=seed,
    ).version
    assert made.manifest.features[-1].categories == [False, True]
    live, _, _ = users_data(EVENTS, seed + 2, places)
    preds = logged(registry, "users", events(live))
    profile = ReferenceProfile.load(made.path)
    spec = ModelSpec(made.manifest, profile)
    assert sum(spec.histograms(preds[:W])[0][PREDICTION]) == W
    for trigger, (hits, windows) in alarms(spec, profile, preds).items():
        bound = poisson.ppf(0.999, windows * W / TARGET)
        assert hits <= bound, (
            f"{family}, {places} decimals: {trigger} alarmed in {hits} of {windows} stationary "
            f"windows of {W} (target: 1 per {TARGET:g} events, Poisson bound {bound:g})"
        )
