"""False alarms of a calibrated one-column drift trigger over many stationary events, simulated.

Checks the calibration's arithmetic (block maxima → alarms per event, the bootstrap's tail
read and its confidence bound) at sample sizes the river streams cannot reach
(``benchmarks.drift.calibrated`` scores ~2-5 M events in ten minutes; a 1-per-1M target
needs ~100 M to be told apart from 1.5 per 1M). Per trial, as in production: a profile is
a sample of ``--ref`` rows from the true distribution (``--bins`` equal shares), it is
calibrated (``streamapp.statistics.calibration.calibrate``, seeded per trial), and a
stream from the true distribution is evaluated every 10 events over a sliding window of
2,000 against the fixed profile; an alarm is an upcrossing of the threshold after a
recovery below half of it (the policy's ``calibrated_recover``).

    python -m benchmarks.drift.calibration_sim [--target 1e6] [--trials 40] [--events 1250000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from streamapp.registry.manifest import NumericProfile, ReferenceProfile
from streamapp.statistics.calibration import calibrate, psi_rows, sliding_counts

W = 2000
STRIDE = 10
CHUNK = 500_000


def _profile(shares: np.ndarray, rows: int) -> ReferenceProfile:
    k = len(shares)
    prediction = NumericProfile(
        edges=[float(i) for i in range(1, k)], proportions=shares.tolist(),
        quantiles=[0.0] * 101, mean=0.0, std=1.0, min=0.0, max=float(k), count=rows,
    )
    return ReferenceProfile(model_name="m", model_version="1", numeric={}, prediction=prediction)


def alarms(
    rng: np.random.Generator, truth: np.ndarray, reference: np.ndarray, limit: float, events: int
) -> int:
    """Alarms (upcrossings after recovery below ``limit / 2``) on a stationary stream."""
    k, count, above = len(truth), 0, False
    carry = np.zeros(0, dtype=np.int64)
    for _ in range(0, events, CHUNK):
        x = np.concatenate([carry, rng.choice(k, size=CHUNK, p=truth)])
        psi = psi_rows(reference, sliding_counts(x[None, :], k, W)[0, ::STRIDE])
        for v in psi[(psi > limit) | (psi <= limit / 2)].tolist():
            if v > limit and not above:
                count, above = count + 1, True
            elif v <= limit / 2:
                above = False
        carry = x[-(W - 1):]
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", type=float, default=1e6, help="Calibrated run length (events).")
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--ref", type=int, default=16_000, help="Profile rows.")
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--events", type=int, default=1_250_000, help="Stream length per trial.")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    truth = np.full(args.bins, 1 / args.bins)
    started, total, per_trial = time.perf_counter(), 0, []
    for trial in range(args.trials):
        reference = rng.multinomial(args.ref, truth) / args.ref
        cal = calibrate(_profile(reference, args.ref), [W], args.target, seed=trial)
        trigger = cal.windows[0].prediction_drift
        assert trigger is not None
        n = alarms(rng, truth, reference, trigger.thresholds["prediction"], args.events)
        per_trial.append(n)
        total += n
    events = args.trials * args.events
    print(
        f"{args.bins} bins, profile of {args.ref:,} rows, target 1 per {args.target:g} events, "
        f"{trigger.replicates} replicates: {total} alarms in {events / 1e6:,.0f} M events = "
        f"{total * 1e6 / events:.2f} per 1M (target {1e6 / args.target:g}); alarms per trial "
        f"{per_trial}; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
