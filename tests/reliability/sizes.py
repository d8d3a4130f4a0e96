"""Scenario sizes: REDUCED (default, runs in CI) or FULL (``STREAMAPP_RELIABILITY=full``).

The reduced set runs the same scenarios as the full one with smaller loads, so
CI exercises every fault path; the full set is what ``docs/reliability.md``
reports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MODE_ENV = "STREAMAPP_RELIABILITY"


@dataclass(frozen=True)
class Sizes:
    """Loads of one suite mode."""

    mode: str
    kill_events: int
    """Events streamed while the scoring worker is SIGKILLed."""
    kills: int
    """How many SIGKILLs of the scoring worker."""
    kill_rate: float
    """Events per second produced during the kill scenario."""
    bad_events: int
    """Hypothesis-generated bad events mixed into good traffic."""
    good_events: int
    """Good events in the bad-input scenario."""
    overload_s: float
    """How long the producer runs at ~10x the (throttled) scoring capacity."""
    rebalance_events: int
    """Events streamed while workers join and leave."""
    monitor_predictions: int
    """Logged predictions (with labels) in the monitor-kill scenario."""
    monitor_kills: int
    """SIGKILLs of the monitor worker."""
    broker_events: int
    """Events per broker incarnation in the broker-restart scenario."""
    broker_outage_s: float
    """How long the broker stays down."""


REDUCED = Sizes(
    mode="reduced",
    kill_events=20_000,
    kills=3,
    kill_rate=1_500.0,
    bad_events=1_500,
    good_events=5_000,
    overload_s=5.0,
    rebalance_events=12_000,
    monitor_predictions=600,
    monitor_kills=1,
    broker_events=2_000,
    broker_outage_s=5.0,
)

FULL = Sizes(
    mode="full",
    kill_events=200_000,
    kills=6,
    kill_rate=4_000.0,
    bad_events=10_000,
    good_events=50_000,
    overload_s=60.0,
    rebalance_events=100_000,
    monitor_predictions=3_000,
    monitor_kills=3,
    broker_events=20_000,
    broker_outage_s=30.0,
)


def current() -> Sizes:
    """The sizes selected by ``STREAMAPP_RELIABILITY`` (``full`` or anything else: reduced)."""
    return FULL if os.environ.get(MODE_ENV, "").lower() == "full" else REDUCED
