"""The retrainer's events (ready, collecting, training progress, decisions) as log records.

Each event is one INFO record of the ``streamapp.retrain`` loggers carrying
``retrain_event`` (its kind) and ``retrain`` (its fields); in JSON log format
(``log.format=json``) that is one line an operator, the demo or a test can
follow with :func:`parse_event`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import orjson

EVENT_KEY = "retrain_event"


def log_event(logger: logging.Logger, kind: str, fields: dict[str, Any]) -> None:
    """Log one retrainer event (INFO)."""
    logger.info("retrain %s", kind, extra={EVENT_KEY: kind, "retrain": fields})


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
