"""Schema ids resolved through the Schema Registry once, then from memory.

:class:`SchemaResolver` asks confluent-kafka's ``SchemaRegistryClient`` for a schema
the first time its id is seen and keeps what the formats build from it (a parsed
Avro schema, a Protobuf message class, a JSON Schema validator) by id, so decoding
makes no registry round trip per event. An id the registry does not know is
:class:`UnknownSchema` (the record's dead-letter reason). A registry that does not
answer is an outage, not bad input: the lookup waits and retries (backoff up to
``schema_registry.retry_max_s``), the worker's readiness names the outage, and a
warning is logged at most once per ``log.repeat_interval_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka.schema_registry import RegisteredSchema, Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamapp.metrics.formats import FormatMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")


class UnknownSchema(LookupError):
    """The registry answered: no such schema id (or subject)."""


class RegistryStopped(RuntimeError):
    """The worker stopped while waiting for an unreachable registry."""


class SchemaResolver:
    """Schemas by id and latest subject versions, cached; retries through an outage."""

    def __init__(
        self,
        client: SchemaRegistryClient,
        metrics: FormatMetrics,
        retry_max_s: float = 5.0,
        repeat_interval_s: float = 60.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.retry_max_s = retry_max_s
        self.repeat_interval_s = repeat_interval_s
        self.stop = stop or threading.Event()
        self._down_since: float | None = None
        self._last_warning = float("-inf")
        self._built: dict[tuple[str, int], Any] = {}
        self.metrics.available.set(1)

    def ready_reason(self) -> str | None:
        """None unless the registry is unreachable right now (readiness answers 503)."""
        since = self._down_since
        if since is None:
            return None
        return f"schema registry unreachable for {time.monotonic() - since:.0f}s"

    def build(self, kind: str, schema_id: int, make: Callable[[Schema, int], T]) -> T:
        """What ``make(schema, id)`` builds from schema ``schema_id``, once per (kind, id)."""
        key = (kind, schema_id)
        found = self._built.get(key)
        if found is None:
            found = self._built[key] = make(self.schema(schema_id), schema_id)
        return found

    def schema(self, schema_id: int, fmt: str | None = None) -> Schema:
        """Schema ``schema_id`` from the registry (a round trip: for builders, once per id)."""
        return self._call(lambda: self.client.get_schema(schema_id, fmt=fmt))

    def has(self, kind: str, schema_id: int) -> bool:
        """Whether schema ``schema_id`` was already built for ``kind`` (no registry call)."""
        return (kind, schema_id) in self._built

    def latest(self, subject: str) -> RegisteredSchema | None:
        """The subject's latest version (a registry call: the caller caches); None if none."""
        try:
            return self._call(lambda: self.client.get_latest_version(subject))
        except UnknownSchema:
            return None

    def forget(self, kind: str) -> None:
        """Drop what was built for ``kind`` (a newer reader schema appeared)."""
        for key in [k for k in self._built if k[0] == kind]:
            del self._built[key]

    def _call(self, request: Callable[[], T]) -> T:
        delay = 0.1
        while True:
            try:
                result = request()
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404:
                    self.metrics.lookups.labels(outcome="not_found").inc()
                    self._up()
                    raise UnknownSchema(str(exc.error_message)) from None
                if exc.http_status_code != -1 and exc.http_status_code < 500:
                    self.metrics.lookups.labels(outcome="not_found").inc()
                    self._up()
                    raise UnknownSchema(f"HTTP {exc.http_status_code}: {exc.error_message}"
                                        ) from None
                problem = f"HTTP {exc.http_status_code}: {exc.error_message}"
            except Exception as exc:  # connection refused, timeout, TLS: an outage
                problem = f"{type(exc).__name__}: {exc}"
            else:
                self.metrics.lookups.labels(outcome="ok").inc()
                self._up()
                return result
            self.metrics.lookups.labels(outcome="unavailable").inc()
            self._down(problem)
            if self.stop.wait(delay):
                raise RegistryStopped("stopped while the schema registry was unreachable")
            delay = min(delay * 2, self.retry_max_s)

    def _down(self, problem: str) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            self.metrics.available.set(0)
        if now - self._last_warning >= self.repeat_interval_s:
            self._last_warning = now
            log.warning("schema registry unreachable (retrying; readiness 503): %s", problem)

    def _up(self) -> None:
        if self._down_since is not None:
            log.info("schema registry reachable again after %.1fs",
                     time.monotonic() - self._down_since)
            self._down_since = None
            self._last_warning = float("-inf")
            self.metrics.available.set(1)
