"""Hypothesis-generated bad events mixed into good traffic: every bad one in the DLQ with the
right reason, every good one scored (duplicate ids included), the worker alive."""

from __future__ import annotations

import random
import time
from collections import Counter

import orjson

from streamapp.settings.topics import TopicSettings
from tests.reliability.bad_input import generate
from tests.reliability.conftest import Record, StartScorer
from tests.reliability.kafka_io import delivery_summary, produce_all, read_keys, read_values
from tests.reliability.sizes import Sizes
from tests.scoring_support import good_events


def test_bad_input_goes_to_dead_letters_with_the_right_reason(
    bootstrap: str,
    rtopics: TopicSettings,
    unique: str,
    start_scorer: StartScorer,
    sizes: Sizes,
    record: Record,
) -> None:
    bad = generate(sizes.bad_events, seed=7)
    good = good_events(sizes.good_events, prefix=f"g{unique}-")
    rng = random.Random(7)
    dup_count = max(10, len(good) // 100)
    duplicates = rng.sample(good, dup_count)  # the same event id delivered twice
    stream: list[tuple[bytes, bytes]] = [*good, *duplicates]
    expected: dict[str, str] = {}
    for i, (value, reason) in enumerate(bad):
        key = f"b{unique}-{i}"
        expected[key] = reason
        stream.append((key.encode(), value))
    rng.shuffle(stream)

    worker = start_scorer()
    started = time.monotonic()
    produce_all(bootstrap, rtopics.events, stream)

    good_ids = {k.decode() for k, _v in good}
    preds = read_keys(bootstrap, rtopics.predictions, good_ids, timeout=180)
    dlq = read_values(bootstrap, rtopics.dead_letter, len(bad), timeout=120)
    elapsed = time.monotonic() - started

    got: dict[str, str] = {}
    for msg in dlq:
        body = orjson.loads(msg.value())
        assert dict(msg.headers() or [])["reason"].decode() == body["reason"]
        got[msg.key().decode()] = body["reason"]
    wrong = Counter(
        (want, got.get(key, "missing")) for key, want in expected.items() if got.get(key) != want
    )
    seen, lost, _dups = delivery_summary(preds, good_ids)
    dup_ids = {k.decode() for k, _v in duplicates}
    under = [k for k in dup_ids if preds[k] < 2]
    assert worker.alive(), worker.log_tail()
    live = worker.get("/health/live")[0]
    dead_metric = worker.metric_sum("streamapp_dead_letter_total")
    record(
        scenario="bad input (hypothesis)",
        load=f"{len(good)} good + {len(duplicates)} duplicate ids + {len(bad)} bad events",
        faults="kinds: "
        + ", ".join(f"{r}={c}" for r, c in sorted(Counter(expected.values()).items())),
        events_in=len(stream),
        predictions_out=sum(preds.values()),
        dead_letters=len(dlq),
        lost=lost + sum(1 for k in expected if k not in got),
        duplicated=sum(preds.values()) - len(good) - len(duplicates),
        wrong_reason=sum(wrong.values()),
        total_s=round(elapsed, 1),
    )
    assert live == 200
    assert not wrong, f"wrong or missing dead-letter reasons: {wrong.most_common(5)}"
    assert len(dlq) == len(bad) and dead_metric == len(bad)
    assert seen == len(good_ids), f"{lost} good events without a prediction"
    assert not under, f"duplicate ids scored once only: {under[:5]}"
    assert worker.stop() == 0, worker.log_tail()
