"""Label-free performance estimation vs realized, per window, against the naive estimate.

Offline, no broker. The estimator of each committed demo model is fitted as
registration fits it (``streamapp.statistics.estimation.fit``) on a fresh labelled
sample of its stationary stream; every stream is then cut into non-overlapping
windows, each window's histograms are put on the profile's bins (as the data
plane folds them) and estimated (``estimation.estimate``); the realized metric
comes from the labels. Naive: "assume the reference value" (the metric on the
fit sample). Covariate-shift streams change only feature distributions (labels
recomputed with the generator's own function and noise); concept-drift streams
change the labelling function, where the estimate is expected to fail.

    python -m benchmarks.drift.estimation [--windows 20] [--seeds 2] [--out table.md]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import numpy as np
from river.datasets import synth

from benchmarks.drift.calibrated import _bins
from benchmarks.drift.run import REPO, Row, agrawal, friedman, score, write_table
from streamapp.features import FeatureEncoder
from streamapp.registry.manifest import ReferenceProfile
from streamapp.registry.registry import ModelRegistry
from streamapp.statistics import estimation, quality
from streamapp.statistics.spec import ESTIMATOR_SCORES, PREDICTION, ModelSpec, score_histogram
from streamapp.statistics.summary import Stats

W = 2000


def agrawal_f0(age: float) -> int:
    return int(age < 40 or age >= 60)


def ages_near_boundaries(n: int, seed: int) -> list[Row]:
    """Agrawal f0 with ages drawn from 37-42 and 57-62 (the class boundaries); labels by f0."""
    rng = np.random.default_rng(seed)
    rows = agrawal(n, seed, None)
    ages = rng.choice([*range(37, 43), *range(57, 63)], size=n)
    return [
        ({**x, "age": int(a)}, agrawal_f0(int(a))) for (x, _), a in zip(rows, ages, strict=True)
    ]


def salary_loan(n: int, seed: int) -> list[Row]:
    """Agrawal f0 with salaries x1.5 and loans x2 (f0 reads only the age: labels unchanged)."""
    rows = agrawal(n, seed, None)
    for x, _ in rows:
        x["salary"] = float(x["salary"]) * 1.5
        x["loan"] = float(x["loan"]) * 2.0
    return rows


def friedman_f(x: dict[str, float]) -> float:
    return (
        10 * math.sin(math.pi * x["x0"] * x["x1"])
        + 20 * (x["x2"] - 0.5) ** 2
        + 10 * x["x3"]
        + 5 * x["x4"]
    )


def friedman_upper(n: int, seed: int) -> list[Row]:
    """Friedman #1 with x0, x1, x3 in their upper half; same noise, target recomputed."""
    out: list[Row] = []
    for x, y in friedman(n, seed, None):
        noise = float(y) - friedman_f(x)  # type: ignore[arg-type]
        new = {**x, **{k: 0.5 + float(x[k]) / 2 for k in ("x0", "x1", "x3")}}
        out.append((new, friedman_f(new) + noise))  # type: ignore[arg-type]
    return out


def agrawal_f2(n: int, seed: int) -> list[Row]:
    gen = synth.Agrawal(classification_function=2, seed=seed)
    return [(dict(x), int(y)) for x, y in islice(gen, n)]


def windows_of(
    spec: ModelSpec, profile: ReferenceProfile, rows: list[Row], outputs: np.ndarray
) -> list[tuple[dict[str, float], dict[str, float]]]:
    """(estimated, realized) per non-overlapping window."""
    columns = {**profile.numeric, **profile.categorical}
    if spec.classes is None:
        pred_values: list[object] = [float(v) for v in outputs[:, 0]]
    else:
        pred_values = [float(v) for v in outputs[:, 1]]
    out = []
    for start in range(0, len(rows) - W + 1, W):
        part = rows[start : start + W]
        hist = {}
        for name, prof in columns.items():
            bins, k = _bins(prof, [x.get(name) for x, _ in part])
            hist[name] = np.bincount(bins, minlength=k + 1)[:k].tolist()
        bins, k = _bins(profile.prediction, pred_values[start : start + W])
        hist[PREDICTION] = np.bincount(bins, minlength=k + 1)[:k].tolist()
        if spec.estimator is not None and spec.estimator.calibrated:
            hist[ESTIMATOR_SCORES] = score_histogram(pred_values[start : start + W])
        estimated = estimation.estimate(spec, Stats(logged=W, hist=hist))
        realized = _realized(spec, part, outputs[start : start + W])
        out.append((estimated, realized))
    return out


def _realized(spec: ModelSpec, rows: list[Row], outputs: np.ndarray) -> dict[str, float]:
    y = np.array([float(t) for _, t in rows])
    if spec.classes is None:
        err = outputs[:, 0] - y
        return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
    cm = np.bincount(y.astype(np.int64) * 2 + outputs.argmax(axis=1), minlength=4).reshape(2, 2)
    return quality.confusion_metrics(cm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=20, help="Windows of 2000 per stream.")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--fit-rows", type=int, default=10_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    n = args.windows * W
    started = time.perf_counter()
    registry = ModelRegistry(REPO / "models")
    streams: dict[str, list[tuple[str, Callable[[int], list[Row]]]]] = {
        "agrawal-clf": [
            ("Agrawal f0 stationary", lambda s: agrawal(n, 10 + s, None)),
            ("Agrawal ages near the class boundaries (covariate)",
             lambda s: ages_near_boundaries(n, 20 + s)),
            ("Agrawal salary x1.5, loan x2 (covariate)", lambda s: salary_loan(n, 30 + s)),
            ("Agrawal f0 -> f2 (concept)", lambda s: agrawal_f2(n, 40 + s)),
        ],
        "friedman-reg": [
            ("Friedman #1 stationary", lambda s: friedman(n, 50 + s, None)),
            ("Friedman x0, x1, x3 in upper half (covariate)", lambda s: friedman_upper(n, 60 + s)),
            ("FriedmanDrift gra (concept, from event 0)",
             lambda s: friedman(n + 1, 70 + s, 1)[1:]),
        ],
    }
    lines = [
        "| stream | metric | windows | mean realized | mean estimated | MAE estimate "
        "| MAE naive (reference value) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for model, cases in streams.items():
        mv = registry.get(model, "1")
        profile = ReferenceProfile.load(mv.path)
        fit_rows = agrawal(args.fit_rows, 999, None) if model == "agrawal-clf" else friedman(
            args.fit_rows, 999, None
        )
        outputs = score(registry, model, fit_rows)
        encoded = FeatureEncoder(mv.manifest.features).encode_many([x for x, _ in fit_rows])
        y = np.array([t for _, t in fit_rows])
        fitted = estimation.fit(mv.manifest, profile, encoded, outputs, y)
        spec = ModelSpec(mv.manifest, profile.model_copy(update={"estimator": fitted}))
        naive = _realized(spec, fit_rows, outputs)
        metrics = ["accuracy", "f1"] if spec.classes is not None else ["mae", "rmse"]
        for name, make in cases:
            pairs = []
            for seed in range(args.seeds):
                rows = make(seed)
                pairs += windows_of(spec, profile, rows, score(registry, model, rows))
            for metric in metrics:
                real = np.array([r[metric] for _, r in pairs])
                est = np.array([e[metric] for e, _ in pairs])
                off, naive_off = np.abs(est - real).mean(), np.abs(naive[metric] - real).mean()
                lines.append(
                    f"| {name} | {metric} | {len(pairs)} | {real.mean():.4f} | {est.mean():.4f} "
                    f"| {off:.4f} | {naive_off:.4f} |"
                )
                print(lines[-1], flush=True)
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f} at the end; windows of {W} "
        f"events, {args.windows} per stream and seed, {args.seeds} seeds, estimator fitted on "
        f"{args.fit_rows} labelled rows; total {time.perf_counter() - started:.0f} s"
    )
    write_table(header, lines, args.out)


if __name__ == "__main__":
    main()
