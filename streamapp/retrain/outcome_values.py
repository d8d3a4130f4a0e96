"""The retrainer's reading of the joined-outcomes topic: JSON or Avro, bad values skipped.

:class:`OutcomeValues` decodes each value by its first byte (:mod:`streamapp.formats.model_values`):
Avro in the Confluent wire format through the Schema Registry (schema ids cached; an
outage waits, readiness names it), anything else as JSON. A value that decodes neither
way is skipped: never a crash, and a warning at most once per ``log.repeat_interval_s``
with the skipped counts by reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from streamapp.config import Settings
from streamapp.formats.model_values import ModelValues, UndecodableValue
from streamapp.metrics.formats import FormatMetrics
from streamapp.schemas import JoinedOutcome

log = logging.getLogger("streamapp.retrain.service")


class OutcomeValues:
    """Joined-outcome values → :class:`JoinedOutcome` (None: skipped, counted, logged)."""

    def __init__(self, settings: Settings, metrics: FormatMetrics,
                 clock: Callable[[], float] = time.monotonic) -> None:
        resolver = None
        if settings.schema_registry.url:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            from streamapp.formats.resolver import SchemaResolver

            registry = settings.schema_registry
            resolver = SchemaResolver(SchemaRegistryClient(registry.client_conf()), metrics,
                                      registry.retry_max_s, settings.log.repeat_interval_s)
        self.values = ModelValues(JoinedOutcome, resolver)
        self.interval_s = settings.log.repeat_interval_s
        self.skipped: Counter[str] = Counter()
        """Values skipped since start, by reason."""
        self._pending: Counter[str] = Counter()
        self._last: float | None = None
        self._clock = clock

    def stop_with(self, stop: threading.Event) -> None:
        """Let ``stop`` end a wait for an unreachable registry (the service's run loop's)."""
        if self.values.resolver is not None:
            self.values.resolver.stop = stop

    def ready_reason(self) -> str | None:
        """None unless the Schema Registry is unreachable now (any thread)."""
        resolver = self.values.resolver
        return resolver.ready_reason() if resolver is not None else None

    def decode(self, value: bytes | None, offset: int | None = None) -> JoinedOutcome | None:
        """The outcome of ``value``, or None when it is neither JSON nor a readable wire-format
        record (skipped and counted). During a registry outage it waits; a stop meanwhile
        raises ``RegistryStopped`` (the value was not consumed)."""
        try:
            return self.values.decode(value)
        except UndecodableValue as exc:
            self._skip(exc, offset)
            return None

    def _skip(self, exc: UndecodableValue, offset: int | None) -> None:
        self.skipped[exc.reason] += 1
        self._pending[exc.reason] += 1
        now = self._clock()
        if self._last is not None and now - self._last < self.interval_s:
            return
        counts = ", ".join(f"{k}={n}" for k, n in sorted(self._pending.items()))
        log.warning("skipped %d malformed joined outcomes (%s); the last at offset %s: %s",
                    sum(self._pending.values()), counts, offset, exc.detail,
                    extra={"skipped": dict(self._pending)})
        self._pending.clear()
        self._last = now
