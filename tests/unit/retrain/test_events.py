"""The retrainer's events are JSON log lines that :func:`parse_event` reads back."""

from __future__ import annotations

import doctest
import io
import logging

from streamapp.logs import JsonFormatter
from streamapp.monitoring.control import windows
from streamapp.retrain import events


def test_doctests() -> None:
    assert doctest.testmod(events).failed == 0
    assert doctest.testmod(windows).failed == 0


def test_a_logged_event_reads_back_from_the_json_log() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("streamapp.retrain.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("unrelated line")
        events.log_event(logger, "promoted", {"version": "2", "accuracy": 0.97})
    finally:
        logger.removeHandler(handler)
    assert events.events(out.getvalue().splitlines()) == [
        {"event": "promoted", "version": "2", "accuracy": 0.97}
    ]
