"""Scoring worker SIGKILLed at random points of a paced stream: nothing lost, duplicates counted."""

from __future__ import annotations

import random
import threading
import time

from streamapp.settings.topics import TopicSettings
from tests.reliability.conftest import Record, StartScorer
from tests.reliability.kafka_io import PacedProducer, delivery_summary, read_keys
from tests.reliability.sizes import Sizes
from tests.scoring_support import good_events


def test_scoring_worker_sigkill_loses_nothing(
    bootstrap: str,
    rtopics: TopicSettings,
    unique: str,
    start_scorer: StartScorer,
    sizes: Sizes,
    record: Record,
) -> None:
    n = sizes.kill_events
    records = good_events(n, prefix=f"k{unique}-")
    ids = {k.decode() for k, _v in records}
    worker = start_scorer()

    rng = random.Random(unique)
    points = sorted(rng.randint(n // 10, n * 8 // 10) for _ in range(sizes.kills))
    prod = PacedProducer(bootstrap, rtopics.events, records, sizes.kill_rate)
    started = time.monotonic()
    prod.start()
    recoveries: list[float] = []
    tick = threading.Event()
    for point in points:
        while prod.acked < point and prod.is_alive():
            tick.wait(0.05)  # poll the producer's acknowledged count
        killed_at = time.monotonic()
        worker.kill()
        worker = start_scorer()
        recoveries.append(time.monotonic() - killed_at)
    prod.join(600)
    assert not prod.errors, prod.errors[:3]
    assert prod.acked == n

    preds = read_keys(bootstrap, rtopics.predictions, ids, timeout=300)
    drained = time.monotonic() - started
    dead = read_keys(bootstrap, rtopics.dead_letter, settle=0.5, timeout=10)
    seen, lost, dups = delivery_summary(preds, ids)
    assert worker.alive(), worker.log_tail()
    assert worker.stop() == 0, worker.log_tail()
    record(
        scenario="scoring worker SIGKILL",
        load=f"{n} events at {sizes.kill_rate:.0f}/s, 1 worker, 4 partitions",
        faults=f"{len(points)} x SIGKILL at random offsets {points}",
        events_in=n,
        predictions_out=sum(preds[k] for k in ids),
        dead_letters=sum(dead.values()),
        lost=lost,
        duplicated=dups,
        recovery_s=f"kill->ready max {max(recoveries):.1f}, mean "
        f"{sum(recoveries) / len(recoveries):.1f}",
        total_s=round(drained, 1),
    )
    assert lost == 0, f"{lost} events without a prediction"
    assert seen == n
    assert not dead, f"good events dead-lettered: {dead.most_common(3)}"


def test_exactly_once_survives_sigkills_without_duplicates(
    bootstrap: str,
    rtopics: TopicSettings,
    unique: str,
    start_scorer: StartScorer,
    sizes: Sizes,
    record: Record,
) -> None:
    """Five SIGKILLs under steady traffic; read_committed sees every prediction exactly once."""
    n = sizes.kill_events
    kills = 5
    records = good_events(n, prefix=f"x{unique}-")
    ids = {k.decode() for k, _v in records}
    eos = {"processing_guarantee": "exactly_once", "transactional_id": f"score-{unique}-0"}
    worker = start_scorer(**eos)
    rng = random.Random(unique)
    points = sorted(rng.randint(n // 10, n * 8 // 10) for _ in range(kills))
    prod = PacedProducer(bootstrap, rtopics.events, records, sizes.kill_rate)
    prod.start()
    tick = threading.Event()
    recoveries: list[float] = []
    for point in points:
        while prod.acked < point and prod.is_alive():
            tick.wait(0.05)
        killed_at = time.monotonic()
        worker.kill()
        worker = start_scorer(**eos)  # same transactional id: fences the old one
        recoveries.append(time.monotonic() - killed_at)
    prod.join(600)
    assert not prod.errors and prod.acked == n, prod.errors[:3]
    committed = read_keys(bootstrap, rtopics.predictions, ids, timeout=300)
    assert worker.stop() == 0, worker.log_tail()
    uncommitted = read_keys(
        bootstrap, rtopics.predictions, ids, timeout=60, settle=0.5, isolation="read_uncommitted"
    )
    logged = read_keys(bootstrap, rtopics.prediction_log, settle=0.5, timeout=30)
    seen, lost, dups = delivery_summary(committed, ids)
    aborted = sum(uncommitted.values()) - sum(committed.values())
    record(
        scenario="exactly-once scoring, worker SIGKILL",
        load=f"{n} events at {sizes.kill_rate:.0f}/s, 1 worker, 4 partitions",
        faults=f"{kills} x SIGKILL at random offsets {points}",
        events_in=n,
        predictions_read_committed=sum(committed.values()),
        lost=lost,
        duplicated=dups,
        aborted_records_seen_by_read_uncommitted=aborted,
        prediction_log_duplicates=sum(c - 1 for c in logged.values() if c > 1),
        recovery_s=f"kill->ready max {max(recoveries):.1f}",
    )
    assert lost == 0 and seen == n, f"{lost} events without a prediction"
    assert dups == 0, f"{dups} duplicated predictions under read_committed"
    assert all(c == 1 for c in logged.values()), "duplicated prediction-log records"
