"""Start guard of the faust control plane: re-execute the process if it never becomes ready.

Seen on the embedded Tansu broker under load (about 1 start in 10): faust's
consumer never receives its first assignment, or its table recovery never
completes, and the policy agent stays not ready forever. Not seen on Apache
Kafka, where this guard never fires. Replacing the process image (same PID,
same arguments) is as safe as a crash: the data plane's state and offsets are
durable at every checkpoint and it replays from the last one. The restart count
travels in :data:`RESTARTS_ENV`; ``streamapp monitor`` gives up with exit code 3
after ``monitoring.control_start_restarts``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
RESTARTS_ENV = "_STREAMAPP_MONITOR_RESTARTS"


def restarts() -> int:
    """How many times this process image was re-executed by the guard."""
    return int(os.environ.get(RESTARTS_ENV, "0"))


def start_guard(ready: Callable[[], bool], timeout_s: float, done: threading.Event) -> None:
    """Thread body: return once ``ready()`` or ``done``; re-execute after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done.wait(1.0) or ready():
            return
    count = restarts() + 1
    log.error(
        "monitor control plane not ready %.0fs after start (faust group assignment or table "
        "recovery stalled); re-executing (restart %d)", timeout_s, count,
        extra={"restarts": count},
    )
    logging.shutdown()
    os.environ[RESTARTS_ENV] = str(count)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606
