"""Rate-limited warnings about dead-lettered events, with counts by reason.

The first dead letter is reported at once; later ones are summed and reported
at most once per ``interval_s`` (``log.repeat_interval_s``), so a producer that
sends only bad input costs one log line per interval, not one per batch.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping

log = logging.getLogger("streamapp.scoring.dead_letters")


class DeadLetterWarnings:
    """Accumulates dead-letter counts per reason; :meth:`add` logs when an interval is due."""

    def __init__(
        self, topic: str, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.topic, self.interval_s, self._clock = topic, interval_s, clock
        self._pending: Counter[str] = Counter()
        self._since = clock()
        self._last: float | None = None

    def add(self, reasons: Mapping[str, int]) -> None:
        """Count a batch's dead letters; log them (and everything pending) when due."""
        self._pending.update({k: n for k, n in reasons.items() if n})
        if not self._pending:
            return
        now = self._clock()
        if self._last is not None and now - self._last < self.interval_s:
            return
        counts = dict(sorted(self._pending.items()))
        total = sum(counts.values())
        log.warning(
            "%d events dead-lettered to %s in the last %.0fs: %s", total, self.topic,
            now - self._since, ", ".join(f"{k}={n}" for k, n in counts.items()),
            extra={"dead_letters": counts, "topic": self.topic},
        )
        self._pending.clear()
        self._last = self._since = now
