"""Settings of the scoring worker (``STREAMAPP_SCORING__*``)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def usable_cpus() -> int:
    """Cores this process may use: CPU affinity, capped by a cgroup v2 CPU quota (containers)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


class ScoringSettings(BaseModel):
    """Batching, backpressure and consumer settings of ``streamapp score``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_id: str = "streamapp-scoring"
    """Consumer group shared by all scoring workers."""
    processes: int = Field(default_factory=lambda: usable_cpus(), ge=1, le=1024)
    """Worker processes ``streamapp score`` runs in the group (default: one per usable core);
    above 1 a supervisor starts them, restarts a crashed one with backoff, forwards SIGTERM."""
    restart_backoff_s: float = Field(default=1.0, gt=0)
    """Supervisor: first delay before restarting a crashed process (doubles, up to 30 s)."""
    max_batch_size: int = Field(default=512, ge=1)
    """Largest micro-batch handed to a scorer."""
    max_batch_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    """Largest sum of event bytes in one micro-batch: a larger fetch is scored as several
    batches, so the decoded tensors of one batch stay bounded under any overload."""
    max_wait_ms: float = Field(default=0.0, ge=0)
    """Longest an event waits for its batch to fill (a full batch never waits); 0: a fetch
    returns as soon as records are there, with all that is queued (up to the batch size)."""
    max_event_bytes: int = Field(default=64 * 1024, ge=64)
    """Events larger than this go to the dead-letter topic as too_large."""
    latency_target_ms: float = Field(default=50.0, gt=0)
    """Batch fill time + inference the adaptive batcher aims to stay under."""
    scorer_threads: int = Field(default=2, ge=0, le=64)
    """Scorer pool size (inference releases the GIL and overlaps with decoding); 0: route,
    score and produce on the main loop's thread (no hand-off; for models whose inference
    costs little next to decoding)."""
    intra_op_threads: int = Field(default=1, ge=1)
    """Threads per model call inside onnxruntime / torch."""
    max_inflight_events: int = Field(default=50_000, ge=1)
    """High watermark: pause the assigned partitions at this many uncommitted events."""
    max_inflight_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """High watermark in bytes of uncommitted event values."""
    resume_ratio: float = Field(default=0.5, gt=0, lt=1)
    """Low watermark as a share of the high ones: resume below it."""
    fetch_queue_kbytes: int = Field(default=16 * 1024, ge=64)
    """librdkafka ``queued.max.messages.kbytes``: the consumer's prefetch bound."""
    fetch_queue_backoff_ms: int = Field(default=10, ge=0)
    """librdkafka ``fetch.queue.backoff.ms``: how long fetching pauses once the prefetch queue
    is full (librdkafka's 1,000 ms idles a worker whose events are large: 16 MiB of 4 KB
    tensors is 0.1 s of work)."""
    fetch_wait_max_ms: int = Field(default=10, ge=0)
    """librdkafka ``fetch.wait.max.ms``: how long the broker may hold an empty fetch."""
    commit_interval_ms: float = Field(default=100.0, gt=0)
    """How often acknowledged offsets are committed (asynchronously)."""
    reload_poll_ms: float = Field(default=500.0, gt=0)
    """How often the registry pointers are polled for hot reload."""
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    """Consumer group session timeout."""
    heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    """Consumer group heartbeat interval."""
    drain_timeout_s: float = Field(default=20.0, gt=0)
    """On SIGTERM / revoke: how long to wait for in-flight deliveries before giving up."""
    auto_offset_reset: str = Field(default="earliest", pattern="^(earliest|latest)$")
    """Where a new group starts reading."""
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    """exactly_once: outputs and input offsets commit in one Kafka transaction."""
    transactional_id: str | None = None
    """exactly_once: a stable id per worker instance (e.g. the pod name) lets a restart abort
    its predecessor's open transaction at once; unset: a random id per process."""
    transaction_timeout_ms: int = Field(default=30_000, ge=1000)
    """exactly_once: the broker aborts a transaction left open this long (e.g. by a crash)."""

    @model_validator(mode="after")
    def _consistent(self) -> ScoringSettings:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("scoring.heartbeat_interval_ms must be <= session_timeout_ms / 3")
        return self

    @property
    def resume_events(self) -> int:
        """Low watermark in events."""
        return int(self.max_inflight_events * self.resume_ratio)

    @property
    def resume_bytes(self) -> int:
        """Low watermark in bytes."""
        return int(self.max_inflight_bytes * self.resume_ratio)
