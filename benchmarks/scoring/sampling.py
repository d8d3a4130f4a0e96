"""Sampling decisions: CPU µs/event of version 3 (this tree) against version 2, offline.

``python -m benchmarks.scoring.sampling [--batch 512] [--batches 200] [--rounds 7]``

No broker. For UUID strings and short ids (``evt-123456``) in batches of
``--batch``: the scorer's ``decide`` over UTF-8 record keys (holdout + log, and
with a canary share), the monitor's label filter (``SampleFilter.by_key`` over
records) and ``select_many`` over text ids with the log salt (other salts keep
version 2's path). Version 2 is its per-event loop (one keyed BLAKE2b-128 digest
per id), rebuilt here as the baseline. Every case runs once per round
(``--rounds``), v2 and v3 interleaved; the best round (``thread_time``) is
reported, with the v2 / v3 ratio. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Sequence

import numpy as np

from streamapp.config import SamplingSettings
from streamapp.monitoring.dataplane.records import RawRecord
from streamapp.monitoring.dataplane.sampled import SampleFilter
from streamapp.sampling import SALT_LOG, assign, select_many

_V2_KEYED = hashlib.blake2b(digest_size=16, key=b"streamapp-sampling-v2")
_HOLDOUT, _LOG, _CANARY = 0.05, 0.2, 0.1


def v2_fields(keys: Sequence[bytes]) -> np.ndarray[tuple[int, int], np.dtype[np.uint64]]:
    """Version 2's four 32-bit fields: one keyed BLAKE2b-128 per id (copy of a keyed state)."""
    out: list[bytes] = []
    for key in keys:
        h = _V2_KEYED.copy()
        h.update(key)
        out.append(h.digest())
    return np.frombuffer(b"".join(out), dtype=">u4").reshape(len(keys), 4).astype(np.uint64)


def v2_decide(keys: Sequence[bytes], canary: float) -> tuple[np.ndarray, ...]:  # type: ignore[type-arg]
    """Version 2's ``decide``."""
    d = v2_fields(keys)
    holdout = d[:, 0] < int(_HOLDOUT * 2**32)
    return holdout, holdout | (d[:, 1] < int(_LOG * 2**32)), d[:, 2] < int(canary * 2**32)


def v2_by_key(records: list[RawRecord]) -> list[RawRecord]:
    """Version 2's label filter: the kept records."""
    keys = [r.key() for r in records]
    logged = v2_decide([k or b"" for k in keys], 0.0)[1]
    return [r for r, ok, k in zip(records, logged.tolist(), keys, strict=True) if ok or k is None]


def _best_us(fn: Callable[[], object], batches: int, batch: int) -> float:
    t0 = time.thread_time()
    for _ in range(batches):
        fn()
    return (time.thread_time() - t0) / (batches * batch) * 1e6


def cases(ids: list[str]) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """(v2, v3) callables per case, over one batch of ids."""
    keys = [e.encode() for e in ids]
    records = [RawRecord(i, k, b"{}") for i, k in enumerate(keys)]
    monitor = SampleFilter(SamplingSettings(holdout_rate=_HOLDOUT, log_rate=_LOG))
    return {
        "scorer decide (holdout + log)": (
            lambda: v2_decide(keys, 0.0), lambda: assign(keys, _HOLDOUT, _LOG, 0.0)),
        "scorer decide (+ canary)": (
            lambda: v2_decide(keys, _CANARY), lambda: assign(keys, _HOLDOUT, _LOG, _CANARY)),
        "monitor SampleFilter.by_key": (
            lambda: v2_by_key(records), lambda: monitor.by_key(records)),
        "select_many (log salt, text)": (
            lambda: v2_fields([e.encode() for e in ids])[:, 1] < int(_LOG * 2**32),
            lambda: select_many(ids, SALT_LOG, _LOG)),
    }


def main() -> None:
    """Print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    id_sets = {
        "uuid": [str(uuid.UUID(int=i * 0x9E3779B97F4A7C15 % 2**128)) for i in range(a.batch)],
        "evt-123456": [f"evt-{123456 + i}" for i in range(a.batch)],
    }
    print(f"load average {os.getloadavg()}, batches of {a.batch}, best of {a.rounds} rounds"
          f" of {a.batches} batches (CPU µs/event)\n")
    table = {(label, case): fns for label, ids in id_sets.items()
             for case, fns in cases(ids).items()}
    best = {row: [float("inf"), float("inf")] for row in table}
    for _ in range(a.rounds):  # every row in every round, so a change of load hits all alike
        for row, fns in table.items():
            for i, fn in enumerate(fns):
                best[row][i] = min(best[row][i], _best_us(fn, a.batches, a.batch))
    print("| case | ids | v2 | v3 | v2 / v3 |\n|---|---|---:|---:|---:|")
    for (label, case), (v2, v3) in best.items():
        print(f"| {case} | {label} | {v2:.3f} | {v3:.3f} | {v2 / v3:.1f} |")
    print(f"\nload average {os.getloadavg()}")


if __name__ == "__main__":
    main()
