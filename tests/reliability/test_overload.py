"""Overload: a producer at 10x the measured scoring capacity. Partitions pause, RSS stays
bounded, nothing is lost, and the backlog drains afterwards.

Capacity is made small and stable with a slow TorchScript version (a fixed
matmul burn per batch, same outputs) so that 10x is reachable on 2 cores.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from streamapp.settings.topics import TopicSettings
from tests.reliability.conftest import Record, StartScorer
from tests.reliability.kafka_io import PacedProducer, delivery_summary, produce_all, read_keys
from tests.reliability.models import make_slow_torch, promote
from tests.reliability.sizes import Sizes
from tests.scoring_support import good_events

MAX_INFLIGHT = 5_000
BATCH = 32


@pytest.mark.timeout(1500)
def test_overload_pauses_bounds_memory_and_drains(
    bootstrap: str,
    rtopics: TopicSettings,
    registry_dir: Path,
    unique: str,
    start_scorer: StartScorer,
    sizes: Sizes,
    record: Record,
) -> None:
    make_slow_torch(registry_dir, "2", matmuls=96)
    promote(registry_dir, "2")
    worker = start_scorer(env={"STREAMAPP_MODEL__RUNTIME": "torch"}, max_batch_size=BATCH,
                          scorer_threads=1, max_inflight_events=MAX_INFLIGHT)
    baseline_rss = worker.rss()
    tick = threading.Event()

    def predicted() -> float:
        return worker.metric_sum("streamapp_predictions_total")

    # 1. capacity: time to score a calibration backlog
    calib = good_events(3000, prefix=f"c{unique}-")
    produce_all(bootstrap, rtopics.events, calib)
    t0 = time.monotonic()
    first = predicted()
    while predicted() < len(calib):
        tick.wait(0.2)
    capacity = (len(calib) - first) / (time.monotonic() - t0)

    # 2. overload at 10x for overload_s, sampling memory and backpressure
    rate = 10 * capacity
    # at least 3x the high watermark, however slow this machine measured the model
    n = int(max(rate * sizes.overload_s, 3 * MAX_INFLIGHT))
    records = good_events(n, prefix=f"o{unique}-", seed=5)
    prod = PacedProducer(bootstrap, rtopics.events, records, rate)
    started = time.monotonic()
    prod.start()
    max_rss = max_inflight = max_paused = 0.0
    target = len(calib) + n
    done_at: float | None = None
    while done_at is None and time.monotonic() - started < n / capacity * 3 + 120:
        metrics = worker.metrics()
        max_rss = max(max_rss, worker.rss())
        max_inflight = max(max_inflight, metrics.get(("streamapp_inflight_events", ()), 0.0))
        max_paused = max(max_paused, metrics.get(("streamapp_paused_partitions", ()), 0.0))
        if not prod.is_alive() and predicted() >= target:
            done_at = time.monotonic()
        tick.wait(0.5)  # sampling interval
    prod.join(60)
    assert prod.acked == n and not prod.errors
    produced_for = (prod.finished_at or started) - started
    assert done_at is not None, "backlog did not drain"
    ids = {k.decode() for k, _v in records}
    preds = read_keys(bootstrap, rtopics.predictions, ids, timeout=120)
    seen, lost, dups = delivery_summary(preds, ids)
    pauses = worker.metric_sum("streamapp_backpressure_pauses_total")
    final_lag = worker.metric_sum("streamapp_consumer_lag")
    growth_mb = (max_rss - baseline_rss) / 2**20
    record(
        scenario="overload 10x",
        load=f"measured capacity {capacity:.0f} ev/s (slow TorchScript, batch {BATCH}, 1 scorer); "
        f"producer {rate:.0f} ev/s for {produced_for:.0f}s",
        faults="input at 10x capacity",
        events_in=n,
        predictions_out=sum(preds[k] for k in ids),
        lost=lost,
        duplicated=dups,
        pauses=int(pauses),
        max_paused_partitions=int(max_paused),
        max_inflight_events=int(max_inflight),
        rss_mb=f"baseline {baseline_rss / 2**20:.0f}, max {max_rss / 2**20:.0f} (+{growth_mb:.0f})",
        drain_s=round(done_at - (prod.finished_at or started), 1),
        final_lag=final_lag,
    )
    assert lost == 0 and seen == n
    assert pauses >= 1 and max_paused >= 1, "partitions were never paused"
    # in flight never exceeds the high watermark by more than one fetch
    assert max_inflight <= MAX_INFLIGHT + 4 * BATCH
    # RSS bound: prefetch queues (fetch_queue_kbytes per partition) + in-flight events + model
    assert growth_mb < 400, f"RSS grew by {growth_mb:.0f} MiB"
    assert worker.stop() == 0, worker.log_tail()
