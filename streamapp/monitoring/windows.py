"""Event-time bucket windows over merged summaries (the control plane's in-memory view).

Buckets are keyed by event-time bucket index, so the windows are the same
whichever worker folded which records and in which order summaries arrived.
Windows are whole buckets:

- ``time:<s>s``: the buckets within ``s`` event-time seconds of the newest bucket;
- ``count:<n>``: the newest buckets that together hold at least ``n`` items (or all);
- the *previous* count window: the next older buckets holding at least ``n`` items.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from streamapp.monitoring.summary import Stats

Size = Callable[[Stats], int]


def count_window_label(n: int) -> str:
    """The ``window`` label of a count window (metrics, retrain requests).

    >>> count_window_label(500)
    'count:500'
    """
    return f"count:{n}"


def joined(s: Stats) -> int:
    return s.joined


def logged(s: Stats) -> int:
    return s.logged


class Buckets:
    """Stats per event-time bucket index, merged as summaries arrive."""

    def __init__(self, bucket_s: float) -> None:
        self.bucket_s = bucket_s
        self.items: dict[int, Stats] = {}

    def add(self, bucket: int, stats: Stats) -> None:
        old = self.items.get(bucket)
        self.items[bucket] = stats if old is None else old.merge(stats)

    def time_window(self, seconds: float) -> Stats:
        """Merge of the buckets within ``seconds`` of the newest."""
        if not self.items:
            return Stats()
        newest = max(self.items)
        first = newest - max(1, math.ceil(seconds / self.bucket_s)) + 1
        return _merge(s for b, s in self.items.items() if b >= first)

    def count_window(self, n: int, size: Size, skip: int = 0) -> tuple[Stats, bool]:
        """The newest buckets holding >= ``n`` items, after ``skip`` such windows; and full?"""
        done = 0
        total, have = Stats(), 0
        for b in sorted(self.items, reverse=True):
            total = total.merge(self.items[b])
            have += size(self.items[b])
            if have >= n:
                if done == skip:
                    return total, True
                done += 1
                total, have = Stats(), 0
        return (total, False) if done == skip else (Stats(), False)

    def prune(self, keep_seconds: float, keep_joined: int, keep_logged: int) -> list[int]:
        """Drop buckets older than ``keep_seconds`` once newer ones hold enough items.

        Returns the dropped bucket indexes.
        """
        if not self.items:
            return []
        first = max(self.items) - math.ceil(keep_seconds / self.bucket_s)
        n_joined = n_logged = 0
        dropped: list[int] = []
        for b in sorted(self.items, reverse=True):
            if b < first and n_joined >= keep_joined and n_logged >= keep_logged:
                del self.items[b]
                dropped.append(b)
            else:
                n_joined += self.items[b].joined
                n_logged += self.items[b].logged
        return dropped


def _merge(parts: Iterable[Stats]) -> Stats:
    total = Stats()
    for s in parts:
        total = total.merge(s)
    return total
