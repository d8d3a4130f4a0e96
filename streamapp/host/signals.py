"""SIGINT/SIGTERM set the host's stop event; the previous handlers come back afterwards."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals(stop: threading.Event, install: bool = True) -> Iterator[threading.Event]:
    """Within the block, SIGINT and SIGTERM set ``stop`` (the main thread only: with
    ``install`` False, or off the main thread, nothing is installed)."""
    if not install or threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
