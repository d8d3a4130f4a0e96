"""Workers announce themselves: one JSON heartbeat per interval on the compacted status topic.

Key: the worker id (``role/host/pid``), so compaction keeps each worker's last
state. Value: what ``snapshot()`` returns (role, model, version, group, totals,
quality...) plus identity, ``started_at``, ``heartbeat_at`` and, for every
``*_total`` counter, a ``*_per_s`` rate since the previous heartbeat. A clean
stop writes a tombstone, so stopped workers vanish; a crashed one turns stale.
A failed send is logged (rate-limited with the client's errors) and retried on
the next beat: heartbeats never stop or slow the worker.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from streamapp.kafka.client_logs import with_client_logging

log = logging.getLogger(__name__)

Snapshot = Callable[[], dict[str, Any]]


def worker_id(role: str) -> str:
    """``role/host/pid``: unique per running process.

    >>> worker_id("score").count("/")
    2
    """
    return f"{role}/{socket.gethostname()}/{os.getpid()}"


def rates(now: dict[str, Any], before: dict[str, Any] | None, seconds: float) -> dict[str, float]:
    """``x_per_s`` for every numeric ``x_total`` present in both snapshots.

    >>> rates({"consumed_total": 150}, {"consumed_total": 50}, 10.0)
    {'consumed_per_s': 10.0}
    """
    if before is None or seconds <= 0:
        return {}
    out = {}
    for key, value in now.items():
        if key.endswith("_total") and isinstance(value, int | float) and key in before:
            out[f"{key[: -len('_total')]}_per_s"] = round((value - before[key]) / seconds, 3)
    return out


class Heartbeat:
    """Publishes ``snapshot()`` every ``interval_s`` from a daemon thread until :meth:`stop`."""

    def __init__(
        self, conf: dict[str, Any], topic: str, role: str, snapshot: Snapshot, interval_s: float
    ) -> None:
        self.topic, self.role, self.snapshot, self.interval_s = topic, role, snapshot, interval_s
        self.key = worker_id(role)
        self.started_at = datetime.now(UTC).isoformat()
        self._producer = Producer(with_client_logging({**conf, "linger.ms": 0}))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._last: tuple[float, dict[str, Any]] | None = None

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def beat(self) -> dict[str, Any]:
        """Send one heartbeat now (also called by the thread); returns what was sent."""
        snap = self.snapshot()
        now = time.monotonic()
        before = self._last
        record = {
            "worker": self.key,
            "role": self.role,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "heartbeat_at": datetime.now(UTC).isoformat(),
            "interval_s": self.interval_s,
            **snap,
            **rates(snap, before[1] if before else None, now - before[0] if before else 0.0),
        }
        self._last = (now, snap)
        self._send(json.dumps(record, default=str).encode())
        return record

    def stop(self) -> None:
        """Stop beating and write a tombstone (the worker left cleanly)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval_s + 5)
        self._send(None)
        self._producer.flush(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:  # a snapshot or send failure never stops the worker
                log.warning("heartbeat failed", exc_info=True)
            self._stop.wait(self.interval_s)

    def _send(self, value: bytes | None) -> None:
        try:
            self._producer.produce(self.topic, key=self.key.encode(), value=value)
        except BufferError:
            log.warning("heartbeat dropped: producer queue full")
        self._producer.poll(0)
