"""Canary and shadow verdicts: samples to a correct verdict, wrong-verdict rate when equal.

Simulates per-event outcomes of a primary and a candidate (numpy), folds them into
the data plane's comparison counts per summary exactly as
:mod:`streamapp.monitoring.dataplane.comparison` does (discordant counts; fixed-point sums and
the log-bin histogram of paired differences; per-arm counts and sums of matched
buckets), and feeds every summary to the policy agent's real
:class:`~streamapp.monitoring.control.verdicts.Verdicts` (looks, tests, decisions) with the
default ``monitoring.verdicts`` settings. No broker: the statistics and the decision
rule are what is measured.

- classification: accuracies 0.80 (primary) vs 0.82 / 0.78 / 0.80 (candidate, 2 points
  better / worse / equal); the two versions' errors share 70 % of their randomness;
- regression: normal errors, the candidate's MAE 2 % lower / higher / equal, error
  correlation 0.7;
- shadow: every event paired; canary: 10 % of events to the candidate (its hash share).

    python -m benchmarks.verdicts.run [--seeds 50] [--out table.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from streamapp.monitoring.control.verdicts import Comparison, Verdicts
from streamapp.schemas import Decision
from streamapp.settings.monitoring import VerdictSettings
from streamapp.statistics.summary import fixed
from streamapp.statistics.verdict_stats import hist_index

SHADOW_CHUNK = 500
"""Pairs per summary (one join partition's checkpoint)."""
CANARY_CHUNK = 5000
"""Events per summary in canary mode (about 500 to the candidate)."""
CANARY_SHARE = 0.1
RHO = 0.7


@dataclass(frozen=True)
class Scenario:
    mode: str
    classification: bool
    truth: str
    """better, worse, equal (the candidate against the primary)."""

    @property
    def name(self) -> str:
        task = "classification" if self.classification else "regression"
        return f"{self.mode} {task}"


def _outcomes(s: Scenario, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per event: (primary, candidate) right (1/0) or absolute error."""
    step = {"better": 1, "worse": -1, "equal": 0}[s.truth]
    if s.classification:
        shared = rng.uniform(size=n)
        u_p = np.where(rng.uniform(size=n) < RHO, shared, rng.uniform(size=n))
        u_c = np.where(rng.uniform(size=n) < RHO, shared, rng.uniform(size=n))
        return (u_p < 0.80).astype(float), (u_c < 0.80 + 0.02 * step).astype(float)
    e_p = rng.standard_normal(n)
    e_c = (1 - 0.02 * step) * (RHO * e_p + np.sqrt(1 - RHO**2) * rng.standard_normal(n))
    return np.abs(e_p), np.abs(e_c)


def _summaries(s: Scenario, rng: np.random.Generator, limit: int) -> Iterator[dict[str, int]]:
    """The comparison counts of successive summaries (at most ``limit`` candidate samples)."""
    sent = 0
    while sent < limit:
        if s.mode == "shadow":
            v_p, v_c = _outcomes(s, rng, SHADOW_CHUNK)
            sent += SHADOW_CHUNK
            if s.classification:
                yield {"n": SHADOW_CHUNK, "b": int(np.sum((v_c == 1) & (v_p == 0))),
                       "c": int(np.sum((v_p == 1) & (v_c == 0)))}
                continue
            d = v_p - v_c
            out = {"n": SHADOW_CHUNK, "d": fixed(d.tolist()), "d2": fixed((d * d).tolist())}
            bins, counts = np.unique(hist_index(d), return_counts=True)
            out.update({f"h{b}": c for b, c in zip(bins.tolist(), counts.tolist(), strict=True)})
            yield out
            continue
        v_p, v_c = _outcomes(s, rng, CANARY_CHUNK)
        canary = rng.uniform(size=CANARY_CHUNK) < CANARY_SHARE
        c_vals, p_vals = v_c[canary], v_p[~canary]
        sent += len(c_vals)
        if s.classification:
            yield {"cn": len(c_vals), "cright": int(c_vals.sum()),
                   "pn": len(p_vals), "pright": int(p_vals.sum())}
        else:
            yield {"cn": len(c_vals), "cabs": fixed(c_vals.tolist()),
                   "csq": fixed((c_vals**2).tolist()), "pn": len(p_vals),
                   "pabs": fixed(p_vals.tolist()), "psq": fixed((p_vals**2).tolist())}


def run_once(s: Scenario, seed: int, cfg: VerdictSettings) -> tuple[str, int]:
    """The final decision of one simulated comparison and the candidate samples it took."""
    verdicts = Verdicts(cfg, {})
    c = Comparison("m", "2", s.mode, "1", s.classification)
    limit = cfg.min_samples * 2 ** (cfg.looks - 1)
    rng = np.random.default_rng(seed)
    decision, n = Decision.KEEP_COLLECTING.value, 0
    for seq, counts in enumerate(_summaries(s, rng, limit), start=1):
        out = verdicts.update(c, counts, 0, seq, 0.0)
        if out is not None and out.decision != Decision.KEEP_COLLECTING:
            return out.decision.value, out.samples
        n = int(verdicts.state[c.key]["counts"].get("n" if s.mode == "shadow" else "cn", 0))
    return decision, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--out", type=Path, help="Write the markdown table here too.")
    parser.add_argument("--truths", default="better,worse,equal", help="Candidates to run.")
    parser.add_argument("--tasks", default="classification,regression", help="Tasks to run.")
    args = parser.parse_args()
    cfg = VerdictSettings()
    lines = [
        "| mode, task | candidate | runs | correct verdict | wrong verdict | no verdict "
        "| samples to the correct verdict: median | p90 | max | run s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    started = datetime.now(UTC)
    load = os.getloadavg()
    for mode in ("shadow", "canary"):
        for classification in (t == "classification" for t in args.tasks.split(",")):
            for truth in args.truths.split(","):
                s = Scenario(mode, classification, truth)
                t0 = time.perf_counter()
                results = [run_once(s, seed, cfg) for seed in range(args.seeds)]
                took = time.perf_counter() - t0
                right = {"better": "promote", "worse": "roll_back", "equal": "keep_collecting"}
                ok = [n for d, n in results if d == right[truth]]
                wrong = sum(d not in (right[truth], "keep_collecting") for d, _ in results)
                waiting = sum(d == "keep_collecting" for d, _ in results)
                undecided = 0 if truth == "equal" else waiting
                q = ["-", "-", "-"]
                if truth != "equal" and ok:
                    qs = np.percentile(ok, [50, 90, 100], method="inverted_cdf")
                    q = [f"{int(v):,}" for v in qs]
                lines.append(
                    f"| {s.name} | {truth} | {len(results)} | {len(ok)} | {wrong} | {undecided} "
                    f"| {q[0]} | {q[1]} | {q[2]} | {took:.0f} |"
                )
                print(lines[-1], flush=True)
    header = (
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {platform.machine()} "
        f"({os.cpu_count()} cores), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the "
        f"start, {os.getloadavg()[0]:.2f} at the end; settings {cfg.model_dump()}"
    )
    table = header + "\n\n" + "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
