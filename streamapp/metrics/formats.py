"""Metrics of the wire formats and the Schema Registry (docs/formats.md, docs/metrics.md)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


class FormatMetrics:
    """Schema lookups (a registry round trip only on a cache miss), the registry's state, and
    records decoded and encoded per format."""

    def __init__(self, prometheus: CollectorRegistry = REGISTRY) -> None:
        r = prometheus
        self.lookups = Counter(
            "streamapp_schema_registry_requests_total",
            "Schema Registry requests by outcome (ok, not_found, unavailable): one per schema "
            "id and reader-schema refresh, never one per event.",
            ["outcome"], registry=r,
        )
        self.available = Gauge(
            "streamapp_schema_registry_up",
            "1 while the Schema Registry answers (0 during an outage: readiness answers 503).",
            registry=r,
        )
        self.decoded = Counter(
            "streamapp_format_records_total",
            "Wire-format records decoded, by topic format and result (ok or a dead-letter "
            "reason).",
            ["format", "result"], registry=r,
        )
        self.encoded = Counter(
            "streamapp_format_records_encoded_total",
            "Records written in a registry wire format, by format and record kind "
            "(prediction, joined_outcome); JSON records are not counted here.",
            ["format", "record"], registry=r,
        )
