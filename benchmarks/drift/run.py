"""Drift-detection quality of the monitor's policy on river synth streams with known drift points.

Runs the pure aggregation + policy logic offline (no broker): every event is a
logged prediction and its joined outcome, one event per second of event time.
Reports, per stream, the retrain requests before the drift point (false
alarms), the delay in events from the drift point to the first request, and
compares with a fixed-window PSI baseline (non-overlapping windows, an alarm
for every window with >= k features over the PSI threshold or prediction PSI
over its threshold, no hysteresis, no accuracy signal).

    .venv/bin/python benchmarks/drift/run.py [--scale 1.0] [--out table.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np
from river.datasets import synth

from streamapp.features import FeatureEncoder
from streamapp.monitoring.control.aggregator import Aggregator
from streamapp.monitoring.dataplane.fold import Folder
from streamapp.monitoring.dataplane.records import LabelRecord, LoggedRecord
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.manifest import ReferenceProfile
from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.loader import load_model
from streamapp.settings.monitoring import MonitoringSettings, PolicySettings
from streamapp.statistics import binning as stats
from streamapp.statistics.profile import build_profile

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
Row = tuple[dict[str, float | int], float | int]


@dataclass
class Stream:
    name: str
    model: str
    rows: list[Row]
    drift_at: int | None  # event index of the drift point; None = stationary


def agrawal(n: int, seed: int, switch_at: int | None) -> list[Row]:
    """Agrawal function 0, switching to function 2 at ``switch_at`` (concept drift)."""
    before = synth.Agrawal(classification_function=0, seed=seed)
    after = synth.Agrawal(classification_function=2, seed=seed + 1)
    k = n if switch_at is None else switch_at
    rows = [(dict(x), int(y)) for x, y in islice(before, k)]
    rows += [(dict(x), int(y)) for x, y in islice(after, n - k)]
    return rows


def agrawal_covariate(n: int, seed: int, shift_at: int) -> list[Row]:
    """Agrawal function 0; from ``shift_at`` on, salaries and loans scaled (covariate drift)."""
    rows = agrawal(n, seed, None)
    for x, _ in rows[shift_at:]:
        x["salary"] = float(x["salary"]) * 1.5
        x["loan"] = float(x["loan"]) * 2.0
    return rows


def friedman(n: int, seed: int, drift_at: int | None) -> list[Row]:
    """Friedman #1; with ``drift_at``, river's FriedmanDrift global abrupt drift there."""
    gen: Iterator[tuple[dict[int, float], float]]
    if drift_at is None:
        gen = iter(synth.Friedman(seed=seed))
    else:
        gen = iter(synth.FriedmanDrift(drift_type="gra", position=(drift_at, 10 * n), seed=seed))
    return [({f"x{k}": float(v) for k, v in x.items()}, float(y)) for x, y in islice(gen, n)]


def sea(n: int, seed: int, switch_at: int | None) -> list[Row]:
    """SEA variant 0 (threshold 8) switching to variant 3 (threshold 9.5), 10 % label noise."""
    before = synth.SEA(variant=0, noise=0.1, seed=seed)
    after = synth.SEA(variant=3, noise=0.1, seed=seed + 1)
    k = n if switch_at is None else switch_at
    rows = [({f"f{i}": float(v) for i, v in x.items()}, int(y)) for x, y in islice(before, k)]
    rows += [({f"f{i}": float(v) for i, v in x.items()}, int(y)) for x, y in islice(after, n - k)]
    return rows


def sea_registry(root: Path) -> None:
    """A registry entry for a rule model (SEA's own variant-0 threshold) with its profile."""
    from streamapp.registry.manifest import Manifest

    version_dir = root / "sea-rule" / "1"
    version_dir.mkdir(parents=True)
    train = sea(20_000, seed=99, switch_at=None)
    manifest = Manifest.model_validate(
        {
            "name": "sea-rule",
            "version": "1",
            "task": "binary_classification",
            "features": [
                {"name": f"f{i}", "type": "numeric", "min": 0, "max": 10} for i in range(3)
            ],
            "output": {"classes": [0, 1]},
            "artifacts": [{"format": "onnx", "path": "none.onnx", "sha256": "0" * 64}],
            "created_at": T0.isoformat(),
            "baseline_metrics": {"accuracy": _accuracy(train, sea_scores(train))},
        }
    )
    encoded = FeatureEncoder(manifest.features).encode_many([x for x, _ in train])
    profile = build_profile(manifest, encoded, sea_scores(train))
    (version_dir / "manifest.json").write_text(manifest.model_dump_json())
    (version_dir / "profile.json").write_text(profile.model_dump_json())


def bench_registry(root: Path) -> ModelRegistry:
    """A registry under ``root``: copies of the committed demo models and the SEA rule."""
    for model in ("agrawal-clf", "friedman-reg"):
        (root / model / "1").mkdir(parents=True)
        for f in (REPO / "models" / model / "1").iterdir():
            (root / model / "1" / f.name).write_bytes(f.read_bytes())
    sea_registry(root)
    return ModelRegistry(root)


def write_table(header: str, lines: list[str], out: Path | None) -> None:
    """Print the result table (``header``, a blank line, ``lines``) and write it to ``out``."""
    table = header + "\n\n" + "\n".join(lines) + "\n"
    print(table)
    if out:
        out.write_text(table)


def sea_scores(rows: list[Row]) -> np.ndarray:
    p1 = np.array([1.0 if x["f0"] + x["f1"] > 8 else 0.0 for x, _ in rows]) * 0.9 + 0.05
    return np.stack([1 - p1, p1], axis=1).astype(np.float32)


def _accuracy(rows: list[Row], scores: np.ndarray) -> float:
    return float(np.mean(scores.argmax(axis=1) == np.array([y for _, y in rows])))


def score(registry: ModelRegistry, model: str, rows: list[Row]) -> np.ndarray:
    """Model outputs for every row (ONNX Runtime on CPU; the SEA rule model inline)."""
    if model == "sea-rule":
        return sea_scores(rows)
    mv = registry.get(model, "1")
    encoded = FeatureEncoder(mv.manifest.features).encode_many([x for x, _ in rows])
    onnx = load_model(mv, "onnx", "cpu")
    return np.concatenate([onnx.predict(encoded[i : i + 4096]) for i in range(0, len(rows), 4096)])


def run_policy(
    registry: ModelRegistry,
    stream: Stream,
    outputs: np.ndarray,
    settings: MonitoringSettings,
    chunk: int = 10,
) -> list[int]:
    """Event indexes at which the aggregator emitted a retrain request.

    Events are folded into summaries ``chunk`` at a time (one checkpoint of the
    data plane), exactly as the monitor does; a request is dated at the last
    event of the checkpoint that triggered it.
    """
    agg = Aggregator(settings, SpecCache(registry), {})
    folder = Folder(agg.specs, settings.bucket_s)
    hits: list[int] = []
    batch: list[tuple[LoggedRecord, LabelRecord]] = []
    for i, ((x, y), out) in enumerate(zip(stream.rows, outputs, strict=True)):
        t = T0 + timedelta(seconds=i)
        if out.shape[0] == 2:
            extra: dict[str, object] = {
                "scores": [float(out[0]), float(out[1])],
                "predicted_label": int(out.argmax()),
            }
        else:
            extra = {"predicted_value": float(out[0])}
        pred = LoggedRecord(
            event_id=str(i),
            model_name=stream.model,
            model_version="1",
            event_time=t,
            scored_time=t,
            features=x,  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
        )
        batch.append((pred, LabelRecord(event_id=str(i), label=y, label_time=t)))
        if len(batch) < chunk and i + 1 < len(stream.rows):
            continue
        seq = i // chunk + 1
        for summary in folder.fold(0, seq, [p for p, _ in batch], batch, []):
            if agg.handle(summary, float(i)):
                hits.append(i)
        batch = []
    return hits


def run_psi_baseline(
    registry: ModelRegistry,
    stream: Stream,
    outputs: np.ndarray,
    window: int,
    policy: PolicySettings,
) -> list[int]:
    """Fixed-window PSI: an alarm at the end of each window that crosses the thresholds."""
    mv = registry.get(stream.model, "1")
    profile = ReferenceProfile.load(mv.path)
    hits = []
    for start in range(0, len(stream.rows) - window + 1, window):
        chunk = stream.rows[start : start + window]
        drifted = 0
        for name, num in profile.numeric.items():
            counts = np.bincount(
                stats.bin_index(num.edges, [float(x[name]) for x, _ in chunk]),
                minlength=len(num.proportions),
            )
            drifted += stats.psi(num.proportions, counts) > policy.psi_threshold
        for name, cat in profile.categorical.items():
            keys = sorted(cat.frequencies)
            counts = np.array([sum(str(x[name]) == k for x, _ in chunk) for k in keys])
            drifted += stats.psi([cat.frequencies[k] for k in keys], counts) > policy.psi_threshold
        pred = profile.prediction
        column = outputs[start : start + window, -1]
        pred_psi = 0.0
        if hasattr(pred, "edges"):
            counts = np.bincount(
                stats.bin_index(pred.edges, column), minlength=len(pred.proportions)
            )
            pred_psi = stats.psi(pred.proportions, counts)
        if drifted >= policy.drifted_features or pred_psi > policy.prediction_psi_threshold:
            hits.append(start + window - 1)
    return hits


def summarise(hits: list[int], stream: Stream) -> tuple[str, str, str]:
    """(false alarms per 100k, delay to first request after the drift, requests after drift)."""
    n = len(stream.rows)
    before = [h for h in hits if stream.drift_at is None or h < stream.drift_at]
    span = n if stream.drift_at is None else stream.drift_at
    fa = f"{len(before) * 100_000 / span:.1f}"
    if stream.drift_at is None:
        return fa, "-", "-"
    after = [h for h in hits if h >= stream.drift_at]
    delay = str(after[0] - stream.drift_at) if after else "not detected"
    return fa, delay, str(len(after))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="Stream length multiplier.")
    parser.add_argument("--out", type=Path, help="Write the markdown table here too.")
    args = parser.parse_args()
    n_stat, n_drift = int(100_000 * args.scale), int(60_000 * args.scale)
    at = n_drift // 2
    policy = PolicySettings()
    settings = MonitoringSettings(policy=policy)
    variants = {
        "policy": settings,
        "policy+ADWIN": settings.model_copy(
            update={"policy": policy.model_copy(update={"detector_trigger": True})}
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        registry = bench_registry(Path(tmp))
        streams = [
            Stream("Agrawal f0 stationary", "agrawal-clf", agrawal(n_stat, 1, None), None),
            Stream("Agrawal f0→f2 (concept)", "agrawal-clf", agrawal(n_drift, 2, at), at),
            Stream("Agrawal covariate shift", "agrawal-clf", agrawal_covariate(n_drift, 3, at), at),
            Stream("SEA v0 stationary", "sea-rule", sea(n_stat, 4, None), None),
            Stream("SEA v0→v3 (concept)", "sea-rule", sea(n_drift, 5, at), at),
            Stream("Friedman stationary", "friedman-reg", friedman(n_stat, 6, None), None),
            Stream("FriedmanDrift gra", "friedman-reg", friedman(n_drift, 7, at), at),
        ]
        lines = [
            "| stream | events | drift at | method | false alarms /100k | delay (events) "
            "| requests after drift | run s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        results = []
        for stream in streams:
            outputs = score(registry, stream.model, stream.rows)
            methods: dict[str, Callable[[], list[int]]] = {
                name: partial(run_policy, registry, stream, outputs, s)
                for name, s in variants.items()
            }
            methods["fixed-window PSI (2000)"] = partial(
                run_psi_baseline, registry, stream, outputs, 2000, policy
            )
            for method, fn in methods.items():
                start = time.perf_counter()
                hits = fn()
                took = time.perf_counter() - start
                fa, delay, after = summarise(hits, stream)
                drift = "-" if stream.drift_at is None else str(stream.drift_at)
                lines.append(
                    f"| {stream.name} | {len(stream.rows)} | {drift} | {method} | {fa} | {delay} "
                    f"| {after} | {took:.0f} |"
                )
                results.append({"stream": stream.name, "method": method, "hits": hits[:20]})
                print(lines[-1], flush=True)
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} "
        f"({platform.processor() or platform.platform()}), scale {args.scale}; policy defaults: "
        f"{json.dumps(policy.model_dump())}"
    )
    write_table(header, lines, args.out)


if __name__ == "__main__":
    main()
