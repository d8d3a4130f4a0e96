"""Stage timers for :mod:`benchmarks.scoring.stages`: the worker's parts, each wrapped in a clock.

``instrument`` returns five callables (fetch, decode, route, send, poll) built
from the same classes the worker uses; route's time is split into sampling
(route), the model call (score) and record building (encode) by wrapping the
router module's sampling and scoring functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamapp.config import Settings
from streamapp.kafka.commit import Ticket
from streamapp.kafka.sink import KafkaSink
from streamapp.kafka.source import KafkaSource
from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.catalog import runtime_catalog
from streamapp.runtime.loader import load_model
from streamapp.scoring import router as router_mod
from streamapp.scoring.decode import Decoder
from streamapp.scoring.router import Router

STAGES = ("consume", "decode", "route", "score", "encode", "produce", "delivery")


@dataclass
class Timers:
    """Seconds per stage, summed over the run."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    events: int = 0
    total_s: float = 0.0

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with its wall time added to ``stage``."""
        clock, seconds = time.perf_counter, self.seconds

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[stage] += clock() - t0

        return wrapper

    def report(self) -> dict[str, float]:
        """µs/event per stage (encode = route total - sampling - model call) and in total."""
        us = {f"{k}_us_per_event": round(v / self.events * 1e6, 2) for k, v in self.seconds.items()}
        us["stages_total_us_per_event"] = round(self.total_s / self.events * 1e6, 2)
        return us


def _route_parts(timers: Timers) -> None:
    """Time the router's sampling and model calls separately (wraps module globals)."""
    for name in ("select_many", "decide"):
        if hasattr(router_mod, name):
            setattr(router_mod, name, timers.timed("route", getattr(router_mod, name)))
    router_mod.score_batch = timers.timed("score", router_mod.score_batch)  # type: ignore[attr-defined]


def instrument(
    settings: Settings, bootstrap: str, timers: Timers
) -> tuple[Callable[..., Any], ...]:
    """(fetch, decode, route, send, poll) over a real source and sink, each timed."""
    conf = settings.kafka.librdkafka(bootstrap)
    source = KafkaSource({**conf, "group.id": "stages", "auto.offset.reset": "earliest"},
                         settings.topics.events, lambda _t: None, lambda _t: None, lambda _t: None)
    sink = KafkaSink(conf)
    version = ModelRegistry(settings.model.registry).resolve(settings.model.name, "production")
    model = load_model(version, "auto", "cpu", 1, runtime_catalog(settings.model))
    decoder = Decoder(model.manifest, settings.scoring.max_event_bytes)
    router = Router(settings.topics, settings.sampling)
    _route_parts(timers)
    timed_route = timers.timed("encode", lambda batch: router.route(batch, model, None))
    timed_send = timers.timed("produce", sink.send)

    def fetch(size: int) -> list[Any]:
        return timers.timed("consume", source.fetch)(size, 0.5)  # type: ignore[no-any-return]

    def route(batch: Any) -> Any:
        before = timers.seconds["route"] + timers.seconds["score"]
        out = timed_route(batch)
        timers.seconds["encode"] -= timers.seconds["route"] + timers.seconds["score"] - before
        return out

    def send(msgs: list[Any], routed: Any) -> None:
        ticket = Ticket({}, len(msgs), 0, lambda _t: None)
        if hasattr(routed, "columns"):  # record columns produced in batches (sampling v2 on)
            timed_send(ticket, routed.records, routed.columns)
        else:
            timed_send(ticket, routed.records)

    return (fetch, timers.timed("decode", decoder.decode), route, send,
            timers.timed("delivery", lambda: sink.poll(0)))
