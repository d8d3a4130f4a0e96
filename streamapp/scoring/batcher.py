"""Adaptive micro-batching: how many events to ask the source for, and how long to wait.

The batcher keeps exponentially weighted estimates of the arrival rate and of
the per-event inference cost, and picks the batch size whose fill time plus
inference time fits the latency target: small batches (low latency) under
light load, ``max_batch_size`` (throughput) under heavy load. Pure logic: no
clock or Kafka inside, the caller reports what happened.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchRequest:
    """Ask the source for up to ``size`` events, waiting at most ``timeout_s``."""

    size: int
    timeout_s: float


class AdaptiveBatcher:
    """Chooses ``(size, timeout)`` for the next fetch from recent observations.

    >>> b = AdaptiveBatcher(max_batch_size=512, max_wait_s=0.02, latency_target_s=0.05)
    >>> b.observe(received=512, waited_s=0.001, infer_s=0.002)
    >>> b.next_request().size
    512
    """

    def __init__(
        self,
        max_batch_size: int,
        max_wait_s: float,
        latency_target_s: float,
        min_batch_size: int = 1,
        smoothing: float = 0.3,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.min_batch_size = max(1, min(min_batch_size, max_batch_size))
        self.max_wait_s = max_wait_s
        self.latency_target_s = latency_target_s
        self.smoothing = smoothing
        self.rate: float | None = None
        """Estimated arrival rate, events/s (None until observed)."""
        self.cost_per_event_s = 0.0
        """Estimated inference time per event."""
        self.fixed_cost_s = 0.0
        """Estimated per-call inference overhead."""

    def next_request(self) -> BatchRequest:
        """The next fetch: the size that fills within the latency budget, capped by max wait."""
        if self.rate is None:
            return BatchRequest(self.max_batch_size, self.max_wait_s)
        budget = max(self.latency_target_s - self.fixed_cost_s, self.latency_target_s * 0.1)
        # fill time + inference: size / rate + size * cost <= budget
        per_event = 1.0 / max(self.rate, 1e-9) + self.cost_per_event_s
        size = int(budget / per_event)
        size = max(self.min_batch_size, min(self.max_batch_size, size))
        timeout = min(self.max_wait_s, size / max(self.rate, 1e-9))
        return BatchRequest(size, max(timeout, 0.0))

    def observe(self, received: int, waited_s: float, infer_s: float | None = None) -> None:
        """Report a fetch (``received`` events after ``waited_s``) and, if known, its inference time.

        A fetch that came back full means the rate is at least ``received / waited_s``.
        """
        a = self.smoothing
        if waited_s > 0:
            observed = received / waited_s
            if self.rate is None:
                self.rate = observed
            else:
                self.rate = (1 - a) * self.rate + a * observed
        if infer_s is not None and received > 0:
            per = infer_s / received
            self.cost_per_event_s = (1 - a) * self.cost_per_event_s + a * per
            if received == 1:
                self.fixed_cost_s = (1 - a) * self.fixed_cost_s + a * infer_s
