from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streamapp.demo.scrape import Scrape, delta, fetch, histogram_quantile, minus


def _registry() -> tuple[CollectorRegistry, Counter, Histogram, Gauge]:
    reg = CollectorRegistry()
    counter = Counter("streamapp_predictions_total", "p", ["model", "version"], registry=reg)
    hist = Histogram(
        "streamapp_end_to_end_latency_seconds",
        "l",
        ["model"],
        buckets=(0.01, 0.1, 1.0),
        registry=reg,
    )
    gauge = Gauge(
        "streamapp_feature_drift", "d", ["model", "version", "feature", "statistic"], registry=reg
    )
    return reg, counter, hist, gauge


def test_parse_sums_groups_and_quantiles_real_exposition() -> None:
    reg, counter, hist, gauge = _registry()
    counter.labels("m", "1").inc(10)
    counter.labels("m", "2").inc(5)
    for _ in range(90):
        hist.labels("m").observe(0.005)
    for _ in range(10):
        hist.labels("m").observe(0.5)
    gauge.labels("m", "1", "salary", "psi").set(0.7)
    gauge.labels("m", "1", "salary", "ks").set(0.2)
    scrape = Scrape.parse(generate_latest(reg).decode())
    assert scrape.total("streamapp_predictions_total") == 15
    assert scrape.total("streamapp_predictions_total", version="2") == 5
    assert scrape.by("streamapp_predictions_total", "version") == {"1": 10, "2": 5}
    assert scrape.by("streamapp_feature_drift", "feature", statistic="psi") == {"salary": 0.7}
    assert scrape.quantile("streamapp_end_to_end_latency_seconds", 0.5) == pytest.approx(
        0.00556, rel=0.01
    )
    p99 = scrape.quantile("streamapp_end_to_end_latency_seconds", 0.99)
    assert p99 is not None and 0.1 < p99 <= 1.0


def test_interval_differences() -> None:
    reg, counter, hist, _ = _registry()
    counter.labels("m", "1").inc(10)
    hist.labels("m").observe(0.005)
    before = Scrape.parse(generate_latest(reg).decode())
    counter.labels("m", "1").inc(4)
    hist.labels("m").observe(0.5)
    now = Scrape.parse(generate_latest(reg).decode())
    assert delta(now, before, "streamapp_predictions_total") == 4
    assert delta(before, now, "streamapp_predictions_total") == 10  # restart: counts from zero
    interval = minus(now, before)
    assert interval.quantile("streamapp_end_to_end_latency_seconds", 0.5) == pytest.approx(0.55)


def test_histogram_quantile_edge_cases() -> None:
    assert histogram_quantile([], 0.5) is None
    assert histogram_quantile([(1.0, 0.0), (float("inf"), 0.0)], 0.5) is None
    assert histogram_quantile([(1.0, 0.0), (float("inf"), 4.0)], 0.5) == 1.0


def test_unreachable_endpoint_gives_an_empty_scrape() -> None:
    from streamapp.brokers import free_port

    scrape = fetch(f"http://127.0.0.1:{free_port()}/metrics", timeout=0.5)
    assert scrape.samples == {}
    assert scrape.total("anything") == 0
