"""The retrainer's events (ready, collecting, training progress, decisions) as log records.

Each event is one INFO record of the ``streamapp.retrain`` loggers carrying
``retrain_event`` (its kind) and ``retrain`` (its fields); in JSON log format
(``log.format=json``) that is one line an operator, the demo or a test can
follow with :func:`parse_event`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

EVENT_KEY = "retrain_event"


def log_event(logger: logging.Logger, kind: str, fields: dict[str, Any]) -> None:
    """Log one retrainer event (INFO)."""
    logger.info("retrain %s", kind, extra={EVENT_KEY: kind, "retrain": fields})


class WaitLog:
    """When a wait that is checked on every poll deserves a line ("collecting … have N need M").

    A line is due the first time for a request, when the count moved by a tenth of what is
    needed since the last line, and otherwise once per ``interval_s`` (``log.repeat_interval_s``),
    so an idle wait logs twice a minute, not every second.

    >>> clock = iter([0.0, 1.0, 2.0, 3.0, 40.0]).__next__
    >>> wait = WaitLog(30.0, clock)
    >>> [wait.due("k", have, 300) for have in (0, 10, 30, 31, 31)]
    [True, False, True, False, True]
    """

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self._clock = interval_s, clock
        self._last: tuple[str, float, int] | None = None
        """(request key, time, count) of the last line."""

    def due(self, key: str, have: int, need: int) -> bool:
        """True when a line about ``key`` having ``have`` of ``need`` should be logged now."""
        now = self._clock()
        last = self._last
        if (
            last is None
            or last[0] != key
            or now - last[1] >= self.interval_s
            or abs(have - last[2]) >= max(1, need // 10)
        ):
            self._last = (key, now, have)
            return True
        return False


def parse_event(line: str) -> dict[str, Any] | None:
    """``{"event": kind, **fields}`` of a JSON log line holding an event; None for any other.

    >>> parse_event('{"msg": "retrain ready", "retrain_event": "ready", "retrain": {"n": 1}}')
    {'event': 'ready', 'n': 1}
    >>> parse_event('{"msg": "other"}') is None, parse_event("not json") is None
    (True, True)
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or EVENT_KEY not in record:
        return None
    fields = record.get("retrain")
    return {"event": record[EVENT_KEY], **(fields if isinstance(fields, dict) else {})}


def events(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Every event among ``lines`` (JSON log lines), in order."""
    return [e for line in lines if (e := parse_event(line)) is not None]
