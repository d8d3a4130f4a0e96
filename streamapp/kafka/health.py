"""Whether a long-running worker reaches its Kafka cluster, for its health probes.

librdkafka's statistics (``stats_cb``, every ``STATS_INTERVAL_MS``) list every
broker connection with its state: the cluster is reachable while at least one
is ``UP``. Its ``error_cb`` reports losses at once (``_ALL_BROKERS_DOWN``,
``_TRANSPORT``) with the reason. Workers turn that into ``/health/ready``
(not ready, with the reason) and ``/health/live`` (fails once the cluster has
been unreachable for ``kafka.unreachable_liveness_s``, so the orchestrator
restarts the process). Losses and recoveries are logged once each.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

log = logging.getLogger("streamapp.kafka.health")

STATS_INTERVAL_MS = 1000
LOSS_CODES = frozenset(
    {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}
)
SERVERS_HINT = "check kafka.bootstrap_servers (STREAMAPP_KAFKA__BOOTSTRAP_SERVERS) and the network"


class ConnectionHealth:
    """Tracks reachability of one cluster across the clients that report to it (thread-safe).

    A fresh tracker counts as unreachable until the first statistics with a broker
    ``UP`` arrive (a worker that never connects fails liveness like one that lost it).
    """

    def __init__(
        self,
        servers: str,
        liveness_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers, self.liveness_after_s, self._clock = servers, liveness_after_s, clock
        self._lock = threading.Lock()
        self._down_since: float | None = clock()
        self._reason = "not connected yet"
        self._ever_up = False

    # ---- librdkafka callbacks (served inside poll/consume) ---------------------------------

    def on_error(self, err: KafkaError) -> None:
        """``error_cb``: a connection loss marks the cluster unreachable (with its reason)."""
        if err.code() in LOSS_CODES:
            self.mark_lost(err.str())

    def on_stats(self, stats_json: str) -> None:
        """``stats_cb``: reachable when some broker connection is ``UP``."""
        try:
            brokers: dict[str, Any] = json.loads(stats_json).get("brokers", {})
        except ValueError:
            return
        if any(b.get("state") == "UP" for b in brokers.values()):
            self._up()
        elif brokers:
            self.mark_lost("no broker connection is up")

    def client_conf(self) -> dict[str, Any]:
        """librdkafka properties that feed this tracker (merge with the client logging)."""
        return {"stats_cb": self.on_stats, "statistics.interval.ms": STATS_INTERVAL_MS}

    # ---- probes ----------------------------------------------------------------------------

    def unreachable_for(self) -> float | None:
        """Seconds since the cluster became unreachable; None while reachable."""
        with self._lock:
            return None if self._down_since is None else self._clock() - self._down_since

    def ready_reason(self) -> str | None:
        """None while reachable, else why (for the ``/health/ready`` body)."""
        down = self.unreachable_for()
        if down is None:
            return None
        return (
            f"Kafka unreachable at {self.servers} for {down:.0f}s: {self._reason}; {SERVERS_HINT}"
        )

    def live_reason(self) -> str | None:
        """None unless unreachable for longer than ``liveness_after_s`` (then: restart me)."""
        down = self.unreachable_for()
        if down is None or down < self.liveness_after_s:
            return None
        return f"{self.ready_reason()} (longer than kafka.unreachable_liveness_s)"

    # ---- transitions -----------------------------------------------------------------------

    def mark_lost(self, reason: str) -> None:
        """The cluster is unreachable for ``reason`` (logged on the first loss only)."""
        with self._lock:
            self._reason = reason
            if self._down_since is not None:
                return
            self._down_since = self._clock()
        log.warning("Kafka connection lost (%s): %s", self.servers, reason,
                    extra={"servers": self.servers})

    def _up(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            down, self._down_since = self._clock() - self._down_since, None
            first, self._ever_up = not self._ever_up, True
        if first:
            log.info("Kafka connected (%s)", self.servers, extra={"servers": self.servers})
        else:
            log.warning("Kafka reachable again (%s) after %.0fs", self.servers, down,
                        extra={"servers": self.servers, "unreachable_s": round(down, 1)})


def wait_for_cluster(
    conf: dict[str, Any], timeout_s: float, stop: threading.Event, health: ConnectionHealth
) -> bool:
    """Probe the cluster until it answers (True) or ``stop`` is set (False).

    Every failed probe (``timeout_s`` each) marks ``health`` unreachable and is
    logged on ``streamapp.kafka.client``, whose repeats the log handler rate-limits
    (the first, then one summary per ``log.repeat_interval_s``). Rejected credentials
    raise :class:`~streamapp.kafka.credentials.KafkaAuthError`.
    """
    from streamapp.kafka.credentials import unreachable_reason

    while not stop.is_set():
        reason = unreachable_reason(conf, timeout_s)
        if reason is None:
            return True
        health.mark_lost(reason)
        logging.getLogger("streamapp.kafka.client").warning(
            "Kafka unreachable at %s: %s; %s; retrying", health.servers, reason, SERVERS_HINT,
            extra={"kafka_error": "UNREACHABLE", "servers": health.servers},
        )
    return False
