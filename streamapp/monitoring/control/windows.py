"""Event-time bucket windows over merged summaries (the control plane's in-memory view).

Buckets are keyed by event-time bucket index, so the windows are the same
whichever worker folded which records and in which order summaries arrived.
Windows are whole buckets:

- ``time:<s>s``: the buckets within ``s`` event-time seconds of the newest bucket;
- ``count:<n>``: the newest buckets that together hold at least ``n`` items (or all);
- the *previous* count window: the next older buckets holding at least ``n`` items.

Each window asked for once keeps a running total: a summary's stats are added
to the window that holds its bucket, and buckets that leave a window are
subtracted from it (and added to the next older one). The stats are integers,
so the totals are exactly the merge of their buckets, at O(1) buckets per
summary instead of a merge of every bucket on each evaluation.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

from streamapp.statistics.summary import Stats

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


class _CountChain:
    """Running totals of the count windows ``skip`` = 0, 1, … of one (n, size).

    Level ``i`` holds the buckets ``[lo[i], lo[i-1])`` (level 0 up to the newest);
    a level that does not reach ``n`` items holds every older bucket (and the
    levels below it are empty).
    """

    def __init__(self, n: int, size: Size, levels: int) -> None:
        self.n, self.size = n, size
        self.lo: list[int | None] = [None] * levels
        self.total = [Stats() for _ in range(levels)]
        self.have = [0] * levels

    def level_of(self, bucket: int) -> int | None:
        """The level holding ``bucket`` (None: older than every window)."""
        for i, lo in enumerate(self.lo):
            if lo is None or bucket >= lo or self.have[i] < self.n:
                return i
        return None

    def add(self, b: Buckets, bucket: int, stats: Stats, sign: int = 1) -> None:
        """``stats`` entered (sign 1) or left (-1, the bucket is gone) ``bucket``."""
        i = self.level_of(bucket)
        if i is None:
            return
        self.total[i].add(stats, sign)
        self.have[i] += sign * self.size(stats)
        lo = self.lo[i]
        if sign > 0 and (lo is None or bucket < lo):
            self.lo[i] = bucket
        elif sign < 0 and bucket == lo:
            k = bisect.bisect_right(b.keys, bucket)  # the bucket is already removed from keys
            self.lo[i] = b.keys[k] if k < len(b.keys) else None
        self._settle(b, i)

    def _settle(self, b: Buckets, i: int) -> None:
        """Move buckets a full level no longer needs down to the next level, cascading."""
        while i < len(self.lo):
            lo = self.lo[i]
            moved = False
            while lo is not None and self.have[i] >= self.n:
                s = b.items[lo]
                if self.have[i] - self.size(s) < self.n:
                    break
                self.total[i].add(s, -1)
                self.have[i] -= self.size(s)
                if i + 1 < len(self.lo):
                    self.total[i + 1].add(s)
                    self.have[i + 1] += self.size(s)
                    nxt = self.lo[i + 1]
                    if nxt is None or lo < nxt:
                        self.lo[i + 1] = lo
                k = bisect.bisect_right(b.keys, lo)
                lo = self.lo[i] = b.keys[k] if k < len(b.keys) else None
                moved = True
            if not moved:
                return
            i += 1

    def window(self, skip: int) -> tuple[Stats, bool]:
        return self.total[skip].copy(), self.have[skip] >= self.n and self.lo[skip] is not None


class _TimeTotal:
    """Running total of the buckets within ``span`` buckets of the newest."""

    def __init__(self, span: int) -> None:
        self.span = span
        self.first: int | None = None
        self.total = Stats()

    def add(self, b: Buckets, bucket: int, stats: Stats) -> None:
        """``stats`` entered ``bucket`` (already in ``b``)."""
        first = b.keys[-1] - self.span + 1
        if self.first is not None and first > self.first:  # a newer bucket: the window moves
            keys = b.keys
            for k in keys[bisect.bisect_left(keys, self.first):bisect.bisect_left(keys, first)]:
                self.total.add(b.items[k], -1)
        self.first = first
        if bucket >= first:
            self.total.add(stats)

    def window(self) -> Stats:
        return self.total.copy()


class Buckets:
    """Stats per event-time bucket index, merged as summaries arrive."""

    def __init__(self, bucket_s: float) -> None:
        self.bucket_s = bucket_s
        self.items: dict[int, Stats] = {}
        self.keys: list[int] = []
        """The bucket indexes, ascending."""
        self.n_joined = self.n_logged = 0
        """Joined outcomes and logged predictions in all buckets."""
        self._counts: dict[tuple[int, Size], _CountChain] = {}
        self._times: dict[int, _TimeTotal] = {}

    def add(self, bucket: int, stats: Stats) -> None:
        old = self.items.get(bucket)
        if old is None:
            self.items[bucket] = stats.copy()
            bisect.insort(self.keys, bucket)
        else:
            old.add(stats)
        self.n_joined += stats.joined
        self.n_logged += stats.logged
        for chain in self._counts.values():
            chain.add(self, bucket, stats)
        for timed in self._times.values():
            timed.add(self, bucket, stats)

    def time_window(self, seconds: float) -> Stats:
        """Merge of the buckets within ``seconds`` of the newest."""
        span = max(1, math.ceil(seconds / self.bucket_s))
        timed = self._times.get(span)
        if timed is None:
            timed = self._times[span] = _TimeTotal(span)
            if self.keys:
                first = self.keys[-1] - span + 1
                timed.first = first
                for k in self.keys[bisect.bisect_left(self.keys, first):]:
                    timed.total.add(self.items[k])
        return timed.window()

    def count_window(self, n: int, size: Size, skip: int = 0) -> tuple[Stats, bool]:
        """The newest buckets holding >= ``n`` items, after ``skip`` such windows; and full?"""
        chain = self._counts.get((n, size))
        if chain is None or len(chain.lo) <= skip:
            chain = self._counts[(n, size)] = _CountChain(n, size, skip + 1)
            for k in reversed(self.keys):  # newest first: each bucket lands on top of a level
                chain.add(self, k, self.items[k])
        return chain.window(skip)

    def prune(self, keep_seconds: float, keep_joined: int, keep_logged: int) -> list[int]:
        """Drop buckets older than ``keep_seconds`` once newer ones hold enough items.

        Returns the dropped bucket indexes (oldest first). Walks from the oldest
        bucket and stops at the first one to keep: O(dropped), not O(buckets).
        """
        if not self.items:
            return []
        first = self.keys[-1] - math.ceil(keep_seconds / self.bucket_s)
        dropped: list[int] = []
        while self.keys and self.keys[0] < first:
            b = self.keys[0]
            s = self.items[b]
            if self.n_joined - s.joined < keep_joined or self.n_logged - s.logged < keep_logged:
                break  # the newer buckets alone would not hold enough
            dropped.append(b)
            del self.items[b]
            del self.keys[0]
            self.n_joined -= s.joined
            self.n_logged -= s.logged
            for chain in self._counts.values():
                chain.add(self, b, s, -1)
            for timed in self._times.values():
                if timed.first is not None and b >= timed.first:
                    timed.total.add(s, -1)
        return dropped
