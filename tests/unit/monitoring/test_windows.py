"""Running window totals equal a merge of their buckets, whatever the order of summaries."""

from __future__ import annotations

import math
import random

import pytest

from streamapp.monitoring.control.windows import Buckets, Size, joined, logged
from streamapp.statistics.summary import Stats


def _stats(rng: random.Random) -> Stats:
    n = rng.randint(0, 30)
    hist = [rng.randint(0, 5) for _ in range(4)]
    return Stats(
        logged=sum(hist), joined=n, confusion=[rng.randint(0, n), 0, 0, n] if n else [],
        score_pos={str(rng.randint(0, 3)): n} if n else {}, log_loss=rng.randint(0, 2**50),
        sums={"abs": rng.randint(-(2**45), 2**45)}, hist={"x": hist} if any(hist) else {},
        quality={"x/missing": 1} if rng.random() < 0.2 else {},
    )


def _merge(parts: list[Stats]) -> Stats:
    total = Stats()
    for s in parts:
        total = total.merge(s)
    return total


def _count(items: dict[int, Stats], n: int, size: Size, skip: int) -> tuple[Stats, bool]:
    """The definition: newest buckets holding >= n, after ``skip`` such windows."""
    done, part, have = 0, [], 0
    for b in sorted(items, reverse=True):
        part.append(items[b])
        have += size(items[b])
        if have >= n:
            if done == skip:
                return _merge(part), True
            done, part, have = done + 1, [], 0
    return (_merge(part), False) if done == skip else (Stats(), False)


def _time(items: dict[int, Stats], span: int) -> Stats:
    if not items:
        return Stats()
    first = max(items) - span + 1
    return _merge([s for b, s in items.items() if b >= first])


def _clean(s: Stats) -> dict[str, object]:
    d = s.to_dict()
    d = {k: v for k, v in d.items() if v}
    if "confusion" in d and not any(d["confusion"]):  # type: ignore[arg-type]
        del d["confusion"]
    if "hist" in d:
        d["hist"] = {k: v for k, v in d["hist"].items() if any(v)}  # type: ignore[attr-defined]
        if not d["hist"]:
            del d["hist"]
    return d


@pytest.mark.parametrize("seed", range(8))
def test_running_totals_match_merging_every_bucket(seed: int) -> None:
    rng = random.Random(seed)
    b = Buckets(10.0)
    truth: dict[int, Stats] = {}
    newest = 0
    for step in range(400):
        newest += rng.choice([0, 0, 1, 1, 2])
        bucket = max(0, newest - rng.choice([0, 0, 0, 1, 3, 8]))  # mostly in order, some late
        s = _stats(rng)
        b.add(bucket, s)
        truth[bucket] = truth.get(bucket, Stats()).merge(s)
        if step % 7 == 0:
            for gone in b.prune(keep_seconds=50.0, keep_joined=120, keep_logged=60):
                del truth[gone]
        assert sorted(b.items) == sorted(truth)
        for n, size in ((60, joined), (40, logged), (1, joined)):
            for skip in (0, 1):
                got, full = b.count_window(n, size, skip)
                want, want_full = _count(truth, n, size, skip)
                assert full == want_full and _clean(got) == _clean(want), (step, n, skip)
        for seconds in (30.0, 95.0):
            got_t = b.time_window(seconds)
            assert _clean(got_t) == _clean(_time(truth, math.ceil(seconds / 10.0)))


def test_add_then_subtract_leaves_nothing() -> None:
    rng = random.Random(1)
    parts = [_stats(rng) for _ in range(20)]
    total = Stats()
    for s in parts:
        total.add(s)
    assert total == _merge(parts)
    for s in parts:
        total.add(s, -1)
    assert total == Stats()
