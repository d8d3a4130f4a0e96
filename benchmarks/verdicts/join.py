"""Data-plane cost of shadow pairing: join + fold µs per event, primary only vs primary + shadow.

In process, no broker: ``join_batch`` over a real RocksDB store (checkpointed every
batch, as the data plane does) and ``Folder.fold`` with the comparison counts, for
``--events`` logged events in batches of 5,000 (predictions first, labels later):

- ``primary only``: one logged prediction per event (``candidate_mode`` off);
- ``primary + shadow``: two per event (the candidate's too) and ``keep_label`` (shadow mode):
  one ``variants`` entry per event, the label joins and pairs both.

    python -m benchmarks.verdicts.join [--events 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from streamapp.monitoring.dataplane.fold import Folder
from streamapp.monitoring.dataplane.join import JoinResult, join_batch
from streamapp.monitoring.dataplane.records import decode_label, decode_prediction, encode
from streamapp.monitoring.dataplane.store import PartitionStore, rocks_options
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.registry import ModelRegistry

REPO = Path(__file__).resolve().parents[2]
BATCH = 5000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _registry(root: Path) -> ModelRegistry:
    src = REPO / "models" / "agrawal-clf" / "1"
    for version in ("1", "2"):
        dst = root / "agrawal-clf" / version
        shutil.copytree(src, dst)
        manifest = json.loads((dst / "manifest.json").read_text())
        manifest["version"] = version
        (dst / "manifest.json").write_text(json.dumps(manifest))
    return ModelRegistry(root)


def _records(n: int, shadow: bool) -> tuple[list[bytes], list[bytes]]:
    rng = np.random.default_rng(1)
    reference = np.load(REPO / "models" / "agrawal-clf" / "1" / "reference.npy")
    names = [f["name"] for f in json.loads(
        (REPO / "models" / "agrawal-clf" / "1" / "manifest.json").read_text())["features"]]
    preds, labels = [], []
    for i in range(n):
        t = (T0 + timedelta(milliseconds=10 * i)).isoformat()
        row = reference[i % len(reference)]
        features = {k: float(v) for k, v in zip(names, row, strict=True)}
        y = int(rng.uniform() < 0.5)
        for variant, version in (("primary", "1"), ("shadow", "2"))[: 2 if shadow else 1]:
            k = y if rng.uniform() < 0.85 else 1 - y
            preds.append(encode({
                "event_id": f"e{i}", "model_name": "agrawal-clf", "model_version": version,
                "event_time": t, "scored_time": t, "features": features, "variant": variant,
                "scores": [0.2, 0.8] if k else [0.8, 0.2], "predicted_label": k,
            }))
        labels.append(encode({"event_id": f"e{i}", "label": y, "label_time": t}))
    return preds, labels


def run(n: int, shadow: bool, root: Path) -> dict[str, float]:
    preds_raw, labels_raw = _records(n, shadow)
    store = PartitionStore(root / ("shadow" if shadow else "primary"), rocks_options(64))
    folder = Folder(SpecCache(_registry(root / ("reg-s" if shadow else "reg-p"))), 10.0)
    per = 2 if shadow else 1
    join_s = fold_s = 0.0
    joined = pairs = 0
    seq = 0
    watermark = T0.timestamp() + n / 100
    for raws, is_label in ((preds_raw, False), (labels_raw, True)):
        step = BATCH * (1 if is_label else per)
        for start in range(0, len(raws), step):
            chunk = raws[start:start + step]
            t0 = time.perf_counter()
            if is_label:
                items = [(decode_label(r), r) for r in chunk]
                res: JoinResult = join_batch(store, [], items, 3600.0, watermark, shadow)
            else:
                items_p = [(decode_prediction(r), r) for r in chunk]
                res = join_batch(store, items_p, [], 3600.0, watermark, shadow)
            t1 = time.perf_counter()
            seq += 1
            folder.fold(0, seq, res.first_seen, res.joined, res.expired, res.pairs)
            t2 = time.perf_counter()
            store.commit(b"{}")
            join_s += t1 - t0
            fold_s += t2 - t1
            joined += len(res.joined)
            pairs += len(res.pairs)
    _keys, nbytes = store.stats()
    store.close()
    return {"join_us": join_s / n * 1e6, "fold_us": fold_s / n * 1e6, "joined": joined,
            "pairs": pairs, "bytes": nbytes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000)
    args = ap.parse_args()
    load = os.getloadavg()
    started = datetime.now(UTC)
    lines = ["| mode | events | predictions joined | pairs | join µs/event | fold µs/event "
             "| total µs/event | store bytes |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for shadow in (False, True):
            r = run(args.events, shadow, Path(tmp))
            lines.append(
                f"| {'primary + shadow' if shadow else 'primary only'} | {args.events:,} "
                f"| {r['joined']:,} | {r['pairs']:,} | {r['join_us']:.1f} | {r['fold_us']:.1f} "
                f"| {r['join_us'] + r['fold_us']:.1f} | {int(r['bytes']):,} |"
            )
            print(lines[-1], flush=True)
    print(f"\nMeasured {started:%Y-%m-%d %H:%M} UTC on {platform.machine()} ({os.cpu_count()} "
          f"cores), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
