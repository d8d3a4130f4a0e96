"""Metrics of the scoring role (``streamapp score``); names per docs/metrics.md."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_UNIT_BUCKETS = (1, 16, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class ScoringMetrics:
    """Counters, gauges and histograms of one scoring worker."""

    def __init__(self, prometheus: CollectorRegistry = REGISTRY) -> None:
        r = prometheus
        self.consumed = Counter(
            "streamapp_events_consumed_total",
            "Records fetched from the input topic (model: the model the worker serves).",
            ["topic", "model"], registry=r,
        )
        self.predictions = Counter(
            "streamapp_predictions_total", "Predictions produced and acknowledged.",
            ["model", "version", "variant"], registry=r,
        )
        self.logged = Counter(
            "streamapp_predictions_logged_total",
            "Predictions written to the prediction-log sample.",
            ["model", "version", "variant"], registry=r,
        )
        self.dead_letter = Counter(
            "streamapp_dead_letter_total",
            "Records written to the dead-letter topic (model: the model the worker serves).",
            ["reason", "model"], registry=r,
        )
        self.batch_size = Histogram(
            "streamapp_batch_size", "Events per scored micro-batch.",
            ["model"], buckets=_BATCH_BUCKETS, registry=r,
        )
        self.batch_units = Histogram(
            "streamapp_batch_cost_units", "Cost units per scored micro-batch: events, plus a "
            "tensor model's text characters, bytes and variable-length steps (the batcher's "
            "cost model fits inference time to them).",
            ["model"], buckets=_UNIT_BUCKETS, registry=r,
        )
        self.inference = Histogram(
            "streamapp_inference_seconds", "Model call duration per batch.",
            ["model", "version"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.e2e = Histogram(
            "streamapp_end_to_end_latency_seconds",
            "Event time to prediction acknowledged (sampled per batch).",
            ["model"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.inflight_events = Gauge(
            "streamapp_inflight_events", "Events fetched but not yet committed.", registry=r
        )
        self.inflight_bytes = Gauge(
            "streamapp_inflight_bytes", "Bytes of the events in flight.", registry=r
        )
        self.paused = Gauge(
            "streamapp_paused_partitions", "Partitions paused by backpressure.", registry=r
        )
        self.pauses = Counter(
            "streamapp_backpressure_pauses_total",
            "Times the source paused for backpressure.", registry=r,
        )
        self.lag = Gauge(
            "streamapp_consumer_lag",
            "Fetch high-water mark minus the consumed position, per consumer group.",
            ["topic", "partition", "group", "model"], registry=r,
        )
        self.commits = Counter(
            "streamapp_commits_total", "Offset commits after acknowledged deliveries.", registry=r
        )
        self.delivery_errors = Counter(
            "streamapp_delivery_errors_total",
            "Produce deliveries that failed (retried, never committed).",
            ["topic"], registry=r,
        )
        self.rebalances = Counter(
            "streamapp_rebalances_total",
            "Partition assignment changes seen by this worker.",
            ["kind"], registry=r,
        )
        self.shadow_failures = Counter(
            "streamapp_shadow_failures_total",
            "Events the shadow/candidate model failed on (the primary still served).",
            ["model", "version"], registry=r,
        )
