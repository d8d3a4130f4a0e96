"""False-alarm rate of the calibrated drift triggers vs their target, and detection delay.

Offline, no broker. Each stream is scored by its model (ONNX Runtime, CPU), every
event's feature and prediction values are put on the profile's bins, and the
drift window (the last ``W`` events) is evaluated after every checkpoint of
``--chunk`` events, through the monitor's own policy functions
(``streamapp.monitoring.control.policy``: triggers, hysteresis, cooldown; ``now`` is the
event index, one event per second). The windows are exact sliding windows, not
the monitor's whole event-time buckets (which hold ``W`` to ``W + bucket`` events).
Methods, each alone so every trigger has its own count:

- calibrated feature drift / prediction drift, at targets 1e6 and 1e5 events;
- today's fixed triggers (>= 2 features PSI > 0.25; prediction PSI > 0.25);
- today's policy (accuracy / RMSE triggers + fixed drift) and the same policy with
  calibrated drift instead;
- river ADWIN (on the error stream) and PageHinkley (on the prediction) at
  defaults, every alarm counted;
- fixed-window PSI: non-overlapping windows of ``W``, an alarm for every window with
  >= 2 features or the prediction over PSI 0.25.

    python -m benchmarks.drift.calibrated [--seeds 20] [--part stationary|drift] [--out t.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from river import drift

from benchmarks.drift.run import Row, agrawal, bench_registry, friedman, score, sea, write_table
from streamapp.monitoring.control import policy as pol
from streamapp.registry.manifest import CategoricalProfile, ReferenceProfile, WindowCalibration
from streamapp.settings.monitoring import PolicySettings
from streamapp.statistics.binning import bin_index
from streamapp.statistics.calibration import calibrate, psi_rows, shares, sliding_counts
from streamapp.statistics.spec import _key

W = 2000
TARGETS = (1e6, 1e5)


@dataclass
class Prepared:
    """What every method needs of one scored stream, per checkpoint."""

    n: int
    ends: np.ndarray  # event index of each evaluated checkpoint (>= W - 1)
    psi: list[dict[str, float]]  # per checkpoint: feature -> PSI of the last W events
    pred_psi: np.ndarray
    accuracy: list[float | None] = field(default_factory=list)
    previous: list[float | None] = field(default_factory=list)
    rmse: list[float | None] = field(default_factory=list)
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    prediction: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _bins(prof: Any, values: list[object]) -> tuple[np.ndarray, int]:
    """Bin of every value on a profile column's bins; unknown categories go to bin k."""
    if isinstance(prof, CategoricalProfile):
        cats = {c: i for i, c in enumerate(sorted(prof.frequencies))}
        k = len(cats)
        return np.array([cats.get(_key(v), k) for v in values]), k
    return bin_index(prof.edges, np.asarray(values, dtype=np.float64)), len(prof.proportions)


def _window_psi(prof: Any, values: list[object], ends: np.ndarray) -> np.ndarray:
    bins, k = _bins(prof, values)
    counts = sliding_counts(bins[None, :], k + 1, W)[0, ends - (W - 1), :k]
    return psi_rows(shares(prof), counts)


def _rolling_mean(
    values: np.ndarray, ends: np.ndarray, window: int, skip: int
) -> list[float | None]:
    """Mean of the ``window`` values ending ``skip`` windows before each end (None: too few)."""
    cum = np.concatenate([[0.0], np.cumsum(values)])
    out: list[float | None] = []
    for e in ends:
        hi = e + 1 - skip * window
        lo = hi - window
        out.append(float((cum[hi] - cum[lo]) / window) if lo >= 0 else None)
    return out


def prepare(
    profile: ReferenceProfile, rows: list[Row], outputs: np.ndarray, chunk: int
) -> Prepared:
    n = len(rows)
    ends = np.arange(W - 1, n, chunk)
    columns = {**profile.numeric, **profile.categorical}
    per = {name: _window_psi(prof, [x.get(name) for x, _ in rows], ends) for name, prof in
           columns.items()}
    psi = [{name: float(v[i]) for name, v in per.items()} for i in range(len(ends))]
    y = np.array([float(t) for _, t in rows])
    if outputs.shape[1] == 2:
        prediction = outputs[:, 1].astype(np.float64)
        errors = (outputs.argmax(axis=1) != y).astype(np.float64)
        acc = [None if v is None else 1 - v for v in _rolling_mean(errors, ends, W, 0)]
        prev = [None if v is None else 1 - v for v in _rolling_mean(errors, ends, W, 1)]
        rmse: list[float | None] = [None] * len(ends)
    else:
        prediction = outputs[:, 0].astype(np.float64)
        errors = np.abs(prediction - y)
        acc, prev = [None] * len(ends), [None] * len(ends)
        rmse = [None if v is None else float(np.sqrt(v)) for v in
                _rolling_mean(errors**2, ends, W, 0)]
    pred_psi = _window_psi(profile.prediction, list(prediction), ends)
    return Prepared(n, ends, psi, pred_psi, acc, prev, rmse, errors, prediction)


Sig = Callable[[Prepared, int], pol.Signals]


def _calibrated(cal: WindowCalibration, features: bool, pred: bool, quality: bool) -> Sig:
    limits = cal.feature_drift.thresholds if cal.feature_drift else {}
    plimit = cal.prediction_drift.thresholds["prediction"] if cal.prediction_drift else None
    return _signals(features, pred, quality, limits, plimit)


def _fixed(features: bool, pred: bool, quality: bool) -> Sig:
    """Today's policy: no calibrated limits (the fixed thresholds of the settings apply)."""
    return _signals(features, pred, quality, {}, None)


def _signals(
    features: bool, pred: bool, quality: bool, limits: dict[str, float], plimit: float | None
) -> Sig:
    def signals(p: Prepared, i: int) -> pol.Signals:
        return pol.Signals(
            accuracy=p.accuracy[i] if quality else None,
            previous_accuracy=p.previous[i] if quality else None,
            rmse=p.rmse[i] if quality else None,
            psi=p.psi[i] if features else {},
            psi_limits=limits if features else {},
            prediction_psi=float(p.pred_psi[i]) if pred else None,
            prediction_psi_limit=plimit,
        )

    return signals


def run_policy(
    p: Prepared, signals: Sig, baseline: dict[str, float], quiet: np.ndarray
) -> list[int]:
    """Event indexes of the retrain requests the policy emits.

    ``quiet[i]``: no trigger can fire at checkpoint ``i`` (a vectorised pre-check); with
    no incident open the policy then changes nothing, so the evaluation is skipped.
    """
    policy = PolicySettings()
    state: dict[str, Any] = {}
    hits = []
    for i, end in enumerate(p.ends):
        if quiet[i] and not state.get("open"):
            continue
        sig = signals(p, i)
        fired = pol.triggers(policy, baseline, sig)
        state, request = pol.step(
            policy, state, "m", "1", fired, pol.recovered(policy, baseline, sig), float(end)
        )
        if request is not None:
            hits.append(int(end))
    return hits


def run_detector(values: np.ndarray, make: Callable[[], Any]) -> list[int]:
    det = make()
    hits = []
    for i, v in enumerate(values.tolist()):
        det.update(v)
        if det.drift_detected:
            hits.append(i)
    return hits


def fixed_window(p: Prepared) -> list[int]:
    """Non-overlapping windows of W: >= 2 features or the prediction over PSI 0.25."""
    hits = []
    for i, end in enumerate(p.ends):
        if (end + 1) % W:
            continue
        if sum(v > 0.25 for v in p.psi[i].values()) >= 2 or p.pred_psi[i] > 0.25:
            hits.append(int(end))
    return hits


def _quiet_features(p: Prepared, limits: dict[str, float] | None) -> np.ndarray:
    names = list(p.psi[0]) if p.psi else []
    psi = np.array([[row[f] for f in names] for row in p.psi]).reshape(len(p.psi), len(names))
    if limits is None:  # fixed: fewer than 2 features over 0.25
        return np.asarray((psi > 0.25).sum(axis=1) < PolicySettings().drifted_features)
    bound = np.array([limits.get(f, np.inf) for f in names])
    return np.asarray((psi <= bound).all(axis=1))


def _quiet_quality(p: Prepared, baseline: dict[str, float]) -> np.ndarray:
    policy = PolicySettings()
    ok = np.ones(len(p.ends), dtype=bool)
    for i in range(len(p.ends)):
        acc, prev, rmse = p.accuracy[i], p.previous[i], p.rmse[i]
        if acc is not None and "accuracy" in baseline:
            ok[i] &= acc >= baseline["accuracy"] - policy.accuracy_drop
            ok[i] &= prev is None or acc >= prev - (policy.previous_drop or 0.0)
        if rmse is not None and "rmse" in baseline:
            ok[i] &= rmse <= baseline["rmse"] * (1 + policy.error_increase)
    return ok


def methods(cals: dict[float, WindowCalibration], baseline: dict[str, float]) -> dict[
    str, Callable[[Prepared], list[int]]
]:
    def pred_quiet(p: Prepared, limit: float) -> np.ndarray:
        return np.asarray(p.pred_psi <= limit)

    fixed = PolicySettings().prediction_psi_threshold
    out: dict[str, Callable[[Prepared], list[int]]] = {}
    for target, cal in cals.items():
        limits = cal.feature_drift.thresholds if cal.feature_drift else {}
        plimit = cal.prediction_drift.thresholds["prediction"] if cal.prediction_drift else fixed
        out[f"calibrated feature drift, 1 per {target:.0e}"] = lambda p, c=cal, lim=limits: (
            run_policy(p, _calibrated(c, True, False, False), baseline, _quiet_features(p, lim))
        )
        out[f"calibrated prediction drift, 1 per {target:.0e}"] = lambda p, c=cal, pl=plimit: (
            run_policy(p, _calibrated(c, False, True, False), baseline, pred_quiet(p, pl))
        )
    out["fixed feature drift (>=2 PSI>0.25)"] = lambda p: run_policy(
        p, _fixed(True, False, False), baseline, _quiet_features(p, None)
    )
    out["fixed prediction drift (PSI>0.25)"] = lambda p: run_policy(
        p, _fixed(False, True, False), baseline, pred_quiet(p, fixed)
    )
    out["today's policy (accuracy/RMSE + fixed drift)"] = lambda p: run_policy(
        p,
        _fixed(True, True, True),
        baseline,
        _quiet_features(p, None) & pred_quiet(p, fixed) & _quiet_quality(p, baseline),
    )
    cal6 = cals[1e6]
    limits6 = cal6.feature_drift.thresholds if cal6.feature_drift else {}
    plimit6 = cal6.prediction_drift.thresholds["prediction"] if cal6.prediction_drift else fixed
    out["policy, calibrated drift 1e6"] = lambda p: run_policy(
        p,
        _calibrated(cal6, True, True, True),
        baseline,
        _quiet_features(p, limits6) & pred_quiet(p, plimit6) & _quiet_quality(p, baseline),
    )
    out["river ADWIN (errors), defaults"] = lambda p: run_detector(
        p.errors, lambda: drift.ADWIN()  # type: ignore[no-untyped-call]
    )
    out["river PageHinkley (prediction), defaults"] = lambda p: run_detector(
        p.prediction, lambda: drift.PageHinkley()  # type: ignore[no-untyped-call]
    )
    out[f"fixed-window PSI ({W})"] = fixed_window
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--drift-seeds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="Stream length multiplier.")
    parser.add_argument("--chunk", type=int, default=10, help="Events per checkpoint.")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--part", choices=["all", "stationary", "drift"], default="all")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    n_stat, n_drift = int(100_000 * args.scale), int(60_000 * args.scale)
    n_agrawal = int(n_stat * 0.4)  # river's Agrawal generator is the slow part (~170 us/event)
    at = n_drift // 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        registry = bench_registry(Path(tmp))
        setup: dict[str, tuple[ReferenceProfile, dict[float, WindowCalibration], dict[str, float]]]
        setup = {}
        cal_s = {}
        for model in ("agrawal-clf", "sea-rule", "friedman-reg"):
            mv = registry.get(model, "1")
            profile = ReferenceProfile.load(mv.path)
            t = time.perf_counter()
            cals = {}
            for target in TARGETS:
                window = calibrate(profile, [W], target, args.bootstrap, seed=0).for_window(W)
                assert window is not None
                cals[target] = window
            cal_s[model] = (time.perf_counter() - t) / len(TARGETS)
            setup[model] = (profile, cals, mv.manifest.baseline_metrics)

        def covariate(n: int, seed: int, shift_at: int, salary: float, loan: float) -> list[Row]:
            rows = agrawal(n, seed, None)
            for x, _ in rows[shift_at:]:
                x["salary"] = float(x["salary"]) * salary
                x["loan"] = float(x["loan"]) * loan
            return rows

        stationary: list[tuple[str, str, Callable[[int], list[Row]]]] = [
            ("Agrawal f0", "agrawal-clf", lambda s: agrawal(n_agrawal, 100 + s, None)),
            ("SEA v0 (10 % noise)", "sea-rule", lambda s: sea(n_stat, 200 + s, None)),
            ("Friedman #1", "friedman-reg", lambda s: friedman(n_stat, 300 + s, None)),
        ]
        drifting: list[tuple[str, str, Callable[[int], list[Row]]]] = [
            ("Agrawal covariate (salary x1.5, loan x2)", "agrawal-clf",
             lambda s: covariate(n_drift, 400 + s, at, 1.5, 2.0)),
            ("Agrawal covariate (salary x1.1 only)", "agrawal-clf",
             lambda s: covariate(n_drift, 500 + s, at, 1.1, 1.0)),
            ("Agrawal f0->f2 (concept)", "agrawal-clf", lambda s: agrawal(n_drift, 600 + s, at)),
            ("SEA v0->v3 (concept)", "sea-rule", lambda s: sea(n_drift, 700 + s, at)),
            ("FriedmanDrift gra", "friedman-reg", lambda s: friedman(n_drift, 800 + s, at)),
        ]
        lines = [
            "| stationary stream | method | events | false alarms | per 1M events | target per 1M "
            "| seeds with an alarm |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for name, model, make in stationary if args.part != "drift" else []:
            profile, cals, baseline = setup[model]
            found: dict[str, list[int]] = {}
            events = 0
            for seed in range(args.seeds):
                rows = make(seed)
                prep = prepare(profile, rows, score(registry, model, rows), args.chunk)
                events += prep.n
                for method, fn in methods(cals, baseline).items():
                    found.setdefault(method, []).append(len(fn(prep)))
                print(f"{name} seed {seed} done at {time.perf_counter() - started:.0f} s",
                      flush=True)
            for method, counts in found.items():
                target = next((f"{1e6 / t:g}" for t in TARGETS if f"{t:.0e}" in method), "-")
                lines.append(
                    f"| {name} | {method} | {events:,} | {sum(counts)} | "
                    f"{sum(counts) * 1e6 / events:.1f} | {target} | "
                    f"{sum(c > 0 for c in counts)}/{len(counts)} |"
                )
        lines += [
            "",
            "| drift stream (drift at event "
            f"{at:,} of {n_drift:,}) | method | false alarms before | detected | delay (events), "
            "per seed |",
            "|---|---|---:|---:|---|",
        ]
        for name, model, make in drifting if args.part != "stationary" else []:
            profile, cals, baseline = setup[model]
            before: dict[str, int] = {}
            delays: dict[str, list[str]] = {}
            for seed in range(args.drift_seeds):
                rows = make(seed)
                prep = prepare(profile, rows, score(registry, model, rows), args.chunk)
                for method, fn in methods(cals, baseline).items():
                    hits = fn(prep)
                    before[method] = before.get(method, 0) + sum(h < at for h in hits)
                    after = [h - at for h in hits if h >= at]
                    delays.setdefault(method, []).append(f"{after[0]:,}" if after else "-")
            for method, ds in delays.items():
                detected = sum(d != "-" for d in ds)
                lines.append(
                    f"| {name} | {method} | {before[method]} | {detected}/{len(ds)} | "
                    f"{', '.join(ds)} |"
                )
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f} at the end; seeds "
        f"{args.seeds} (stationary) / {args.drift_seeds} (drift), window {W}, checkpoint every "
        f"{args.chunk} events, bootstrap {args.bootstrap}; calibration s per model and target: "
        + ", ".join(f"{m} {s:.1f}" for m, s in cal_s.items())
        + f"; total {time.perf_counter() - started:.0f} s"
    )
    write_table(header, lines, args.out)


if __name__ == "__main__":
    main()
