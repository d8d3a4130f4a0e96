"""Adaptive micro-batching: how many events to ask the source for, and how long to wait.

The batcher keeps exponentially weighted estimates of the arrival rate and of
the inference cost, and picks the batch size whose fill time plus inference
time fits the latency target: small batches (low latency) under light load,
``max_batch_size`` (throughput) under heavy load. The cost is fitted per *unit*
of what the model pays for: an event for scalar and fixed-shape tensor models,
a character of text, a byte of an image or a step of a variable-length tensor
for the others (:meth:`streamapp.inputs.FeatureBatch.cost_units`), so a stream
of long texts gets smaller batches than one of short texts. Pure logic: no
clock or Kafka inside, the caller reports what happened.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol, TypeVar


@dataclass(frozen=True)
class BatchRequest:
    """Ask the source for up to ``size`` events, waiting at most ``timeout_s``."""

    size: int
    timeout_s: float


class AdaptiveBatcher:
    """Chooses ``(size, timeout)`` for the next fetch from recent observations.

    >>> b = AdaptiveBatcher(max_batch_size=512, max_wait_s=0.02, latency_target_s=0.05)
    >>> b.observe(received=512, waited_s=0.001)
    >>> b.observe_inference(rows=512, seconds=0.002)
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
        """Estimated inference time per cost unit (an event, unless units are reported)."""
        self.units_per_event = 1.0
        """Estimated cost units per event (1 until :meth:`observe_inference` reports units)."""
        self.fixed_cost_s = 0.0
        """Estimated per-call inference overhead."""
        self._moments = [0.0, 0.0, 0.0, 0.0]
        self._calls = 0
        self._lock = threading.Lock()
        """Serialises :meth:`observe_inference` (scorer threads call it concurrently)."""

    def next_request(self) -> BatchRequest:
        """The next fetch: the size that fills within the latency budget, capped by max wait."""
        if self.rate is None:
            return BatchRequest(self.max_batch_size, self.max_wait_s)
        budget = max(self.latency_target_s - self.fixed_cost_s, self.latency_target_s * 0.1)
        # fill time + inference: size / rate + size * cost <= budget
        per_event = 1.0 / max(self.rate, 1e-9) + self.cost_per_event_s * self.units_per_event
        size = int(budget / per_event)
        size = max(self.min_batch_size, min(self.max_batch_size, size))
        timeout = min(self.max_wait_s, size / max(self.rate, 1e-9))
        return BatchRequest(size, max(timeout, 0.0))

    def observe(self, received: int, waited_s: float) -> None:
        """Report a fetch: ``received`` events after ``waited_s`` (main loop).

        A fetch that came back full means the rate is at least ``received / waited_s``.
        """
        if waited_s <= 0:
            return
        observed = received / waited_s
        a = self.smoothing
        self.rate = observed if self.rate is None else (1 - a) * self.rate + a * observed

    def observe_inference(self, rows: int, seconds: float, units: int | None = None) -> None:
        """Report one model call; fits ``seconds = fixed + per_unit * units`` (scorer threads;
        ``units``: the batch's cost units, default ``rows``).

        Exponentially weighted least squares, so a slow per-call overhead is
        never mistaken for a per-event cost (which would shrink batches further).
        The read-modify-write of the moments holds a lock: several scorer threads
        report at once, and an interleaving would lose or mix their samples.
        """
        with self._lock:
            if units is not None and rows > 0:
                ratio = units / rows
                a = self.smoothing
                self.units_per_event = (ratio if self._calls == 0
                                        else (1 - a) * self.units_per_event + a * ratio)
            self._fit(rows if units is None else units, seconds)

    def _fit(self, rows: int, seconds: float) -> None:
        a = self.smoothing
        m = self._moments
        sample = (float(rows), seconds, float(rows) ** 2, rows * seconds)
        self._moments = [x if self._calls == 0 else (1 - a) * v + a * x
                         for v, x in zip(m, sample, strict=True)]
        self._calls += 1
        mean_n, mean_t, mean_nn, mean_nt = self._moments
        var = mean_nn - mean_n**2
        if var > 1e-9 * max(1.0, mean_nn):
            per = max(0.0, (mean_nt - mean_n * mean_t) / var)
        else:
            per = 0.0
        self.cost_per_event_s = per
        self.fixed_cost_s = max(0.0, mean_t - per * mean_n)


class _Sized(Protocol):
    def value(self) -> bytes | None: ...


S = TypeVar("S", bound=_Sized)


def split_by_bytes(records: list[S], limit: int) -> list[list[S]]:
    """``records`` in order, cut into runs whose values sum to at most ``limit`` bytes (a
    single larger record is a run of its own): the memory bound of one micro-batch, whatever
    the fetch size. Nothing is dropped.

    >>> class R:
    ...     def __init__(self, n): self.n = n
    ...     def value(self): return b"x" * self.n
    >>> [[r.n for r in run] for run in split_by_bytes([R(4), R(4), R(9), R(1)], 8)]
    [[4, 4], [9], [1]]
    """
    if not records:
        return []
    values = list(map(type(records[0]).value, records))  # C-level passes: the common case
    if sum(map(len, filter(None, values))) <= limit:
        return [records]
    sizes = [len(v or b"") for v in values]
    runs: list[list[S]] = []
    run: list[S] = []
    total = 0
    for record, size in zip(records, sizes, strict=True):
        if run and total + size > limit:
            runs.append(run)
            run, total = [], 0
        run.append(record)
        total += size
    runs.append(run)
    return runs
