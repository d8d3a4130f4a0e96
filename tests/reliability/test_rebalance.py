"""Rebalances under load: scoring workers join and leave (SIGTERM) mid-stream; nothing lost."""

from __future__ import annotations

import threading
import time

from streamapp.settings.topics import TopicSettings
from tests.reliability.conftest import Record, StartScorer
from tests.reliability.kafka_io import PacedProducer, delivery_summary, read_keys
from tests.reliability.sizes import Sizes
from tests.scoring_support import good_events


def test_workers_join_and_leave_under_load(
    bootstrap: str,
    rtopics: TopicSettings,
    unique: str,
    start_scorer: StartScorer,
    sizes: Sizes,
    record: Record,
) -> None:
    n = sizes.rebalance_events
    duration = 15.0 if sizes.mode == "reduced" else 60.0
    records = good_events(n, prefix=f"r{unique}-")
    ids = {k.decode() for k, _v in records}
    workers = [start_scorer()]
    prod = PacedProducer(bootstrap, rtopics.events, records, n / duration)
    started = time.monotonic()
    prod.start()
    tick = threading.Event()
    steps: list[str] = []
    exit_codes: list[int | None] = []

    def at(share: float) -> None:
        while prod.acked < n * share and prod.is_alive():
            tick.wait(0.05)  # poll the producer's acknowledged count

    for share, action in ((0.15, "add"), (0.35, "add"), (0.55, "remove"), (0.75, "remove")):
        at(share)
        if action == "add":
            workers.append(start_scorer())
        else:
            leaving = workers.pop(0)
            exit_codes.append(leaving.stop())
        steps.append(f"{action}@{int(share * 100)}%->{len(workers)}")
    prod.join(600)
    assert prod.acked == n and not prod.errors
    preds = read_keys(bootstrap, rtopics.predictions, ids, timeout=240)
    elapsed = time.monotonic() - started
    seen, lost, dups = delivery_summary(preds, ids)
    rebalances = sum(w.metric_sum("streamapp_rebalances_total") for w in workers)
    record(
        scenario="rebalances under load",
        load=f"{n} events at {n / duration:.0f}/s",
        faults="workers " + ", ".join(steps) + " (joins + SIGTERM leaves)",
        events_in=n,
        predictions_out=sum(preds[k] for k in ids),
        lost=lost,
        duplicated=dups,
        rebalance_callbacks_on_survivor=int(rebalances),
        total_s=round(elapsed, 1),
    )
    assert exit_codes == [0, 0], "a leaving worker did not drain and exit cleanly"
    assert all(w.alive() for w in workers)
    assert lost == 0 and seen == n
