"""False alarms of the calibrated drift triggers on data whose values repeat, through the live path.

Users' data is not river's continuous generators: prices come from a catalogue,
readings have one decimal, counts are small integers, flags are booleans, and tree
ensembles give a few distinct scores. Per model family this registers a model on
such data (with a holdout, default target 1 per 1M events, W = 2,000), sends a
stationary stream through the real scoring worker (in-memory source and sink: the
producer's JSON, decode, float32 encoding, ONNX Runtime, the prediction-log
encoding) and the monitor's decode and histograms, and evaluates every trigger on
the window of W events ending every W / 10 events, as the monitor does at its
checkpoints. A block of W events with at least one alarm is one false alarm;
the target is 1 per 1M events per trigger.

The ``before`` rows simulate the representation before issue 22: the profile's
edges on observed float32 values and the monitor binning the float64 numbers it
decodes (the same registration otherwise).

    .venv/bin/python -m benchmarks.drift.repeated [--events 1000000] [--out table.md]

``users_data``, ``events`` and ``logged`` are shared with
``tests/unit/statistics/test_repeated_values.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import orjson
import pandas as pd
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.monitoring.dataplane.records import LoggedRecord, decode_prediction
from streamapp.registration import register
from streamapp.registry.manifest import ReferenceProfile
from streamapp.scoring.worker import ScoringWorker
from streamapp.statistics import binning as stats
from streamapp.statistics import profile as profile_module
from streamapp.statistics.spec import ModelSpec
from streamapp.testing import InMemorySink, InMemorySource

TIME = datetime(2026, 12, 1, tzinfo=UTC).isoformat()
W = 2_000
STRIDE = W // 10
CHUNK = 100_000


def families() -> dict[str, Callable[[int], Any]]:
    """Small tree ensembles (few distinct scores, each repeated by many events)."""
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
    )

    return {
        "gradient-boosting": lambda seed: GradientBoostingClassifier(
            n_estimators=8, max_depth=2, random_state=seed),
        "random-forest": lambda seed: RandomForestClassifier(
            n_estimators=4, max_depth=3, min_samples_leaf=50, random_state=seed),
        "gradient-boosting-regression": lambda seed: GradientBoostingRegressor(
            n_estimators=8, max_depth=2, random_state=seed),
    }


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


def events(frame: pd.DataFrame, prefix: str = "e") -> list[tuple[bytes, bytes]]:
    """The producer's JSON: Python numbers and booleans, as a user's producer writes them."""
    out = []
    for i, row in enumerate(frame.to_dict("records")):
        key = f"{prefix}{i}"
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
    worker = ScoringWorker(cfg, source, sink, prometheus=CollectorRegistry())
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    waiter = threading.Event()
    log_topic = cfg.topics.prediction_log
    deadline = time.monotonic() + 60 + len(records) / 2_000
    while time.monotonic() < deadline:
        if len(sink.values(log_topic)) >= len(records) and worker.inflight_events == 0:
            break
        waiter.wait(0.01)
    worker.stop_event.set()
    thread.join(30)
    values = sink.values(log_topic)
    if len(values) != len(records):
        raise RuntimeError(f"{len(values)} of {len(records)} events logged")
    return [decode_prediction(v) for v in values]


@contextlib.contextmanager
def before_issue_22() -> Iterator[None]:
    """The earlier representation: profile edges on observed values, float64 monitor bins."""
    def float64_bins(edges: Any, values: Any) -> Any:
        return np.searchsorted(np.asarray(edges, dtype=np.float64),
                               np.asarray(values, dtype=np.float64), side="left")

    with mock.patch.object(profile_module, "between_values", lambda d, e: np.unique(e)), \
            mock.patch.object(stats, "bin_index", float64_bins):
        yield


def false_alarms(spec: ModelSpec, profile: ReferenceProfile,
                 preds: list[LoggedRecord]) -> dict[str, int]:
    """Per trigger: blocks of W events holding at least one alarm (windows every STRIDE)."""
    assert profile.calibration is not None
    cal = profile.calibration.for_window(W)
    assert cal is not None and cal.feature_drift and cal.prediction_drift
    triggers = {"feature_drift": cal.feature_drift, "prediction_drift": cal.prediction_drift}
    expected = {c.name: c.expected for c in [*spec.columns, spec.prediction]}
    chunks = [spec.histograms(preds[i:i + STRIDE])[0] for i in range(0, len(preds), STRIDE)]
    per = W // STRIDE
    blocks: dict[str, set[int]] = {name: set() for name in triggers}
    for end in range(per, len(chunks) + 1):
        window = chunks[end - per:end]
        for name, trig in triggers.items():
            for col, limit in trig.thresholds.items():
                counts = np.sum([c[col] for c in window], axis=0)
                if stats.psi(expected[col], counts) > limit:
                    blocks[name].add(end * STRIDE // W)
                    break
    return {name: len(found) for name, found in blocks.items()}


def run(family: str, places: int, events_n: int, seed: int, before: bool,
        root: Path) -> dict[str, Any]:
    make = families()[family]
    train, y_class, y_value = users_data(20_000, seed, places)
    hold, h_class, h_value = users_data(10_000, seed + 1, places)
    regression = family.endswith("regression")
    y, y_hold = (y_value, h_value) if regression else (y_class, h_class)
    model = make(seed).fit(train.to_numpy(dtype=np.float32), y)
    registry = root / f"{family}-{places}-{before}"
    with before_issue_22() if before else contextlib.nullcontext():
        made = register(model, train, y, name="users", registry=registry,
                        categorical=["level"], holdout=hold, y_holdout=y_hold, seed=seed).version
        started = time.perf_counter()
        preds: list[LoggedRecord] = []
        for part in range(0, events_n, CHUNK):  # one worker per chunk: memory stays small
            live, _, _ = users_data(min(CHUNK, events_n - part), seed + 2 + part, places)
            preds.extend(logged(registry, "users", events(live, f"e{part}-")))
        profile = ReferenceProfile.load(made.path)
        spec = ModelSpec(made.manifest, profile)
        alarms = false_alarms(spec, profile, preds)
    distinct = len({p.scores[1] if p.scores else p.predicted_value for p in preds[:20_000]})
    return {"family": family, "places": places, "before": before, "alarms": alarms,
            "events": len(preds), "distinct_scores": distinct,
            "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--places", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"Python {platform.python_version()}; `python -m benchmarks.drift.repeated --events "
        f"{args.events}`; target 1 per 1,000,000 events per trigger, W = {W}, windows every "
        f"{STRIDE} events.",
        "",
        "| model | price decimals | representation | distinct scores | feature-drift alarms "
        "per 1M | prediction-drift alarms per 1M |",
        "|---|---:|---|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for family in families():
            for places in args.places:
                for before in (True, False):
                    r = run(family, places, args.events, args.seed, before, Path(tmp))
                    per = 1_000_000 / r["events"]
                    label = "before (float64 vs float32 edges)" if before else "one representation"
                    line = (f"| {family} | {places} | {label} | {r['distinct_scores']} | "
                            f"{r['alarms']['feature_drift'] * per:.1f} | "
                            f"{r['alarms']['prediction_drift'] * per:.1f} |")
                    print(line, f"({r['seconds']:.0f} s)", flush=True)
                    lines.append(line)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
