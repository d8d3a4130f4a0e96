"""The monitor's join path per stage, in CPU µs per label, without a broker.

``python -m benchmarks.monitoring.stages [--events 100000] [--batch 5000] [--default-gc]
[--outcomes json|avro]``

Builds what one capacity run consumes (a label for every event, the scorer's
default sample logged: 20 % + 5 % holdout) and runs the data plane's stages on
it in batches over a real RocksDB store: sample filter, decode of predictions
and labels, the join, outcome encoding, the fold and the store write of each
checkpoint (every 20k labels); ``--outcomes avro`` encodes the outcomes as the
monitor does with ``formats.joined_outcomes = "avro"``. CPU time of this thread
(``time.thread_time``), so other load on the machine inflates it less than wall
time; Kafka's consume, produce and delivery callbacks are not in it
(``benchmarks.monitoring.run`` has them).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from benchmarks.monitoring.run import labels_for, logged
from benchmarks.scoring.run import _events
from streamapp.config import SamplingSettings, Settings
from streamapp.formats.writers.avro_records import AvroRecords
from streamapp.gc_tuning import tune_for_batches
from streamapp.metrics.formats import FormatMetrics
from streamapp.monitoring.dataplane.fold import Folder
from streamapp.monitoring.dataplane.join import JoinResult, join_batch, now_utc
from streamapp.monitoring.dataplane.records import (
    OutcomeRecord,
    RawRecord,
    decode_batch,
    decode_label,
    decode_prediction,
    encode,
    outcome,
    outcome_fields,
)
from streamapp.monitoring.dataplane.sampled import SampleFilter
from streamapp.monitoring.dataplane.store import PartitionStore, rocks_options
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import JoinedOutcome

STAGES = ("sample filter", "decode predictions", "decode labels", "join", "encode outcomes",
          "fold", "store write")


def run(n: int, batch: int, default_gc: bool, outcomes: str = "json") -> dict[str, float]:
    """CPU µs per label of each stage."""
    avro = AvroRecords(JoinedOutcome, 1, FormatMetrics(CollectorRegistry()), "joined_outcome")

    def encode_outcomes(records: list[OutcomeRecord]) -> list[bytes]:
        if outcomes == "avro":
            return avro.encode([outcome_fields(r) for r in records])
        return [encode(r) for r in records]

    t0 = datetime.now(UTC)
    keep = SampleFilter(SamplingSettings())
    events = _events(n, 5, "e")
    labels = [RawRecord(i, k, v) for i, (k, v) in enumerate(labels_for(events, t0))]
    by_id = dict(logged(n, "e", t0))
    preds = [RawRecord(i, k, by_id[k]) for i, (k, _v) in enumerate(events) if keep.keep(k.decode())]
    settings = Settings()
    folder = Folder(SpecCache(ModelRegistry(settings.model.registry)), 10.0)
    total = dict.fromkeys(STAGES, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        store = PartitionStore(Path(tmp) / "store", rocks_options(64))
        if not default_gc:
            tune_for_batches()
        pending = JoinResult()
        clock = time.thread_time
        for start in range(0, n, batch):
            raw_labels = labels[start : start + batch]
            raw_preds = preds[start * len(preds) // n : (start + batch) * len(preds) // n]
            t = clock()
            kept, _dropped, _keyless = keep.by_key(raw_labels)
            t, total["sample filter"] = clock(), total["sample filter"] + clock() - t
            dp = decode_batch(raw_preds, decode_prediction, 1 << 20)
            t, total["decode predictions"] = clock(), total["decode predictions"] + clock() - t
            dl = decode_batch(kept, decode_label, 1 << 16)
            t, total["decode labels"] = clock(), total["decode labels"] + clock() - t
            res = join_batch(store, list(zip(dp.items, dp.raw, strict=True)),
                             list(zip(dl.items, dl.raw, strict=True)), 3600.0, t0.timestamp())
            t, total["join"] = clock(), total["join"] + clock() - t
            at = now_utc()
            _out = ([p.event_id.encode() for p, _ in res.joined],
                    encode_outcomes([outcome(p, lab, at) for p, lab in res.joined]))
            total["encode outcomes"] += clock() - t
            pending.extend(res)
            if (start + batch) % 20_000 == 0 or start + batch >= n:
                t = clock()
                folder.fold(0, 1, pending.first_seen, pending.joined, pending.expired)
                t, total["fold"] = clock(), total["fold"] + clock() - t
                store.seal()
                store.write_sealed(b"{}")
                total["store write"] += clock() - t
                pending = JoinResult()
        store.close()
    return {k: 1e6 * v / n for k, v in total.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--default-gc", action="store_true", help="CPython's collector settings")
    ap.add_argument("--outcomes", choices=("json", "avro"), default="json",
                    help="formats.joined_outcomes")
    args = ap.parse_args()
    out = run(args.events, args.batch, args.default_gc, args.outcomes)
    print(f"{'stage':20s} CPU µs/label")
    for name, us in out.items():
        print(f"{name:20s} {us:6.2f}")
    print(f"{'sum':20s} {sum(out.values()):6.2f}")


if __name__ == "__main__":
    main()
