"""The model families users bring register, and the real scorer serves what the model says.

Every family is fitted on the same tabular data (repeated decimals, small counts, a text
column that streamapp encodes as category codes), registered with ``register()`` (one
through ``streamapp models register``), then served by one scoring worker each: all
workers read one events topic in their own consumer groups and write one predictions
topic, so the whole set costs one produce and one read. Each prediction is compared with
the source model's own output on the same (float32-encoded) row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import lightgbm
import numpy as np
import orjson
import pandas as pd
import pytest
import xgboost
from prometheus_client import CollectorRegistry
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

from streamapp.cli import app
from streamapp.config import Settings
from streamapp.registration import register
from streamapp.registration.frame import encode_frame, infer_features
from streamapp.scoring.worker import kafka_worker
from tests.integration.conftest import produce_all
from tests.scoring_support import read_n

pytestmark = pytest.mark.integration
FIT, HOLD, SERVE = 1000, 500, 500
"""Rows: fitted on (and the reference), held out at registration, served as events."""
NUMERIC = ["price", "rooms", "area"]
CLASSES = ["high", "low", "mid"]
TOLERANCE = 1e-5
"""Largest |served - source| allowed, relative to max(1, |source|): float32 rounding of
a tree ensemble's sum or a linear model's dot product, far below any wrong split."""


@dataclass(frozen=True)
class Family:
    name: str
    make: Callable[[], Any]
    classification: bool
    int_labels: bool = False
    """xgboost's classifier takes class indices, not names."""


def _pipeline(last: Any) -> Pipeline:
    """Scaling plus one-hot, selecting columns by name: fitted on the encoded frame, where
    ``plan`` is its category code (docs/models.md#model-families)."""
    prep = ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
    ])
    return Pipeline([("prep", prep), ("model", last)])


FAMILIES = [
    Family("hgb-clf", lambda: HistGradientBoostingClassifier(max_iter=40, random_state=0), True),
    Family("hgb-reg", lambda: HistGradientBoostingRegressor(max_iter=40, random_state=0), False),
    Family("rf-clf", lambda: RandomForestClassifier(30, max_depth=8, random_state=0), True),
    Family("rf-reg", lambda: RandomForestRegressor(30, max_depth=8, random_state=0), False),
    Family("et-clf", lambda: ExtraTreesClassifier(30, max_depth=8, random_state=0), True),
    Family("et-reg", lambda: ExtraTreesRegressor(30, max_depth=8, random_state=0), False),
    Family("gb-clf", lambda: GradientBoostingClassifier(n_estimators=30, random_state=0), True),
    Family("gb-reg", lambda: GradientBoostingRegressor(n_estimators=30, random_state=0), False),
    Family("logreg-clf", lambda: LogisticRegression(max_iter=500), True),
    Family("ridge-reg", lambda: Ridge(), False),
    Family("pipeline-clf", lambda: _pipeline(LogisticRegression(max_iter=500)), True),
    Family("pipeline-reg", lambda: _pipeline(Ridge()), False),
    Family("lightgbm-clf", lambda: lightgbm.LGBMClassifier(n_estimators=40, verbose=-1), True),
    Family("lightgbm-reg", lambda: lightgbm.LGBMRegressor(n_estimators=40, verbose=-1), False),
    Family("xgboost-clf", lambda: xgboost.XGBClassifier(n_estimators=40), True, True),
    Family("xgboost-reg", lambda: xgboost.XGBRegressor(n_estimators=40), False),
]
CLI_FAMILY = "hgb-clf"
"""Registered through ``streamapp models register`` (a joblib file and a Parquet file)."""


def _data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features as a producer sends them, a regression target and three classes."""
    rng = np.random.default_rng(7)
    n = FIT + HOLD + SERVE
    frame = pd.DataFrame({
        "price": rng.integers(2, 100, n) * 0.5,
        "rooms": rng.integers(1, 8, n),
        "area": rng.normal(80, 25, n).round(1),
        "plan": rng.choice(["basic", "plus", "pro"], n),
    })
    value = (0.2 * frame.price + 1.5 * frame.rooms + 0.05 * frame.area
             + frame.plan.map({"basic": 0.0, "plus": 2.0, "pro": 5.0}) + rng.normal(0, 1.5, n))
    y_reg = value.to_numpy()
    low, high = np.quantile(y_reg, [1 / 3, 2 / 3])
    y_clf = np.where(y_reg < low, "low", np.where(y_reg < high, "mid", "high"))
    return frame, y_reg, y_clf


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """Every family fitted and registered; the source models' outputs on the served rows."""
    frame, y_reg, y_clf = _data()
    fit, hold, served = frame[:FIT], frame[FIT : FIT + HOLD], frame[FIT + HOLD :]
    # fitted as users do: on their float64 numbers, with the text column as its category
    # code (what the scorer feeds the model); compared on the float32 rows the scorer builds
    specs = infer_features(fit)
    plan = list(fit.columns).index("plan")
    codes = fit.assign(plan=encode_frame(fit, specs)[:, plan].astype(np.float64))
    served_codes = pd.DataFrame(encode_frame(served, specs), columns=fit.columns)
    root = tmp_path_factory.mktemp("families")
    registry = root / "models"
    expected: dict[str, np.ndarray] = {}
    for family in FAMILIES:
        y = y_clf if family.classification else y_reg
        if family.int_labels:
            y = np.searchsorted(CLASSES, y)
        model = family.make().fit(codes, y[:FIT])
        if family.name == CLI_FAMILY:
            _register_with_cli(model, fit, y[:FIT], hold, y[FIT : FIT + HOLD], root, registry)
        else:
            register(model, fit, y[:FIT], name=family.name, registry=registry,
                     holdout=hold, y_holdout=y[FIT : FIT + HOLD], drift_target=None)
        out = (model.predict_proba(served_codes) if family.classification
               else model.predict(served_codes).reshape(-1, 1))
        expected[family.name] = np.asarray(out, dtype=np.float64)
    return registry, expected


def _register_with_cli(model: Any, fit: pd.DataFrame, y: np.ndarray, hold: pd.DataFrame,
                       y_hold: np.ndarray, root: Path, registry: Path) -> None:
    joblib.dump(model, root / "model.joblib")
    fit.assign(label=y).to_parquet(root / "fit.parquet")
    hold.assign(label=y_hold).to_parquet(root / "hold.parquet")
    result = CliRunner().invoke(app, [
        "models", "register", str(root / "model.joblib"), "--name", CLI_FAMILY,
        "--data", str(root / "fit.parquet"), "--label", "label",
        "--holdout", str(root / "hold.parquet"), "--registry", str(registry),
        "--drift-target", "0", "--allow-pickle-code-execution",
    ])
    assert result.exit_code == 0, result.output
    assert f"registered {CLI_FAMILY}/1 (multiclass_classification)" in result.output


def test_every_family_registers_and_serves_what_the_source_model_says(
    registered: tuple[Path, dict[str, np.ndarray]],
    settings_factory: Callable[..., Settings],
    bootstrap: str,
    unique: str,
) -> None:
    registry, expected = registered
    frame, _y_reg, _y_clf = _data()
    served = frame[FIT + HOLD :].reset_index(drop=True)
    now = datetime.now(UTC).isoformat()
    events = [
        (f"e{i}".encode(), orjson.dumps({"event_id": f"e{i}", "event_time": now,
                                         "features": _features(row)}))
        for i, row in enumerate(served.to_dict("records"))
    ]
    make = lambda family: settings_factory(  # noqa: E731
        model={"registry": str(registry), "name": family.name},
        sampling={"log_rate": 0.0, "holdout_rate": 0.0},
        scoring={"group_id": f"g-{unique}-{family.name}", "session_timeout_ms": 6000,
                 "heartbeat_interval_ms": 1000, "commit_interval_ms": 100},
    )
    produce_all(bootstrap, make(FAMILIES[0]).topics.events, events)
    topics = make(FAMILIES[0]).topics
    with _workers([make(f) for f in FAMILIES], bootstrap):
        records = read_n(bootstrap, topics.predictions, len(FAMILIES) * SERVE, timeout=150)
    got: dict[str, dict[int, dict[str, Any]]] = {f.name: {} for f in FAMILIES}
    for record in records:
        p = orjson.loads(record.value())
        got[p["model_name"]][int(p["event_id"][1:])] = p
    assert {name: len(p) for name, p in got.items()} == {f.name: SERVE for f in FAMILIES}

    diffs: dict[str, tuple[float, float]] = {}
    for family in FAMILIES:
        preds = [got[family.name][i] for i in range(SERVE)]
        assert {p["model_version"] for p in preds} == {"1"}
        want = expected[family.name]
        if family.classification:
            scores = np.array([p["scores"] for p in preds], dtype=np.float64)
            labels = [str(p["predicted_label"]) for p in preds]
            clear = np.sort(want, axis=1)[:, -1] - np.sort(want, axis=1)[:, -2] > 1e-4
            classes = np.array(CLASSES if not family.int_labels else ["0", "1", "2"])
            assert (np.array(labels)[clear] == classes[want.argmax(axis=1)][clear]).all()
        else:
            scores = np.array([[p["predicted_value"]] for p in preds], dtype=np.float64)
        assert scores.shape == want.shape, family.name
        assert np.ptp(want, axis=0).max() > 0.1, f"{family.name}: a constant model proves little"
        worst = float(np.abs(scores - want).max())
        diffs[family.name] = (worst, worst / max(1.0, float(np.abs(want).max())))
    print("max |served - source| (absolute, relative):", diffs)
    assert all(rel <= TOLERANCE for _abs, rel in diffs.values()), diffs


def _features(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}


@contextmanager
def _workers(settings: list[Settings], bootstrap: str) -> Iterator[None]:
    """One in-process scoring worker per settings, all started at once, all stopped at exit."""
    stop = threading.Event()
    workers = [kafka_worker(s, bootstrap, None, CollectorRegistry(), stop) for s in settings]
    codes: list[int] = []
    threads = [threading.Thread(target=lambda w=w: codes.append(w.run()), daemon=True)
               for w in workers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not any(t.is_alive() for t in threads), "a worker did not stop"
    assert codes == [0] * len(workers), f"worker exit codes {codes}"
