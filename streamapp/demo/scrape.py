"""Read a worker's ``/metrics`` into plain numbers (``text_string_to_metric_families``).

A :class:`Scrape` is an immutable bag of samples with small query helpers:
sums over label filters, label-grouped values and histogram quantiles. A
worker that does not answer yields an empty scrape; the view shows dashes.
"""

from __future__ import annotations

import math
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

LabelSet = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Scrape:
    """All samples of one scrape: sample name → {label set → value}."""

    samples: Mapping[str, Mapping[LabelSet, float]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        """Parse Prometheus text exposition format.

        >>> Scrape.parse('x_total{a="1"} 2.0\\nx_total{a="2"} 3.0\\n').total("x_total")
        5.0
        """
        out: dict[str, dict[LabelSet, float]] = defaultdict(dict)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[sample.name][frozenset(sample.labels.items())] = float(sample.value)
        return cls(dict(out))

    def total(self, name: str, **match: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``match`` (0 when absent)."""
        return sum(v for labels, v in self.samples.get(name, {}).items() if _matches(labels, match))

    def has(self, name: str) -> bool:
        return bool(self.samples.get(name))

    def by(self, name: str, key: str, **match: str) -> dict[str, float]:
        """Values of ``name`` grouped (summed) by one label, e.g. accuracy by version."""
        grouped: dict[str, float] = defaultdict(float)
        for labels, value in self.samples.get(name, {}).items():
            if _matches(labels, match):
                grouped[dict(labels).get(key, "")] += value
        return dict(grouped)

    def quantile(self, name: str, q: float, **match: str) -> float | None:
        """Quantile ``q`` of histogram ``name`` (``_bucket`` samples), linear within a bucket.

        >>> text = 'h_bucket{le="1.0"} 5\\nh_bucket{le="2.0"} 10\\nh_bucket{le="+Inf"} 10\\n'
        >>> s = Scrape.parse(text)
        >>> s.quantile("h", 0.5), s.quantile("h", 0.75)
        (1.0, 1.5)
        """
        buckets: dict[float, float] = defaultdict(float)
        for labels, value in self.samples.get(name + "_bucket", {}).items():
            if _matches(labels, match):
                buckets[float(dict(labels)["le"])] += value
        return histogram_quantile(sorted(buckets.items()), q)


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus-style quantile from cumulative ``(upper bound, count)`` pairs."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def delta(now: Scrape, before: Scrape, name: str, **match: str) -> float:
    """Increase of a counter between two scrapes (a restart counts from zero)."""
    current, previous = now.total(name, **match), before.total(name, **match)
    return current - previous if current >= previous else current


def minus(now: Scrape, before: Scrape) -> Scrape:
    """Per-sample increase between two scrapes (histogram buckets over an interval).

    >>> minus(Scrape.parse("c_total 5\\n"), Scrape.parse("c_total 2\\n")).total("c_total")
    3.0
    """
    out: dict[str, dict[LabelSet, float]] = {}
    for name, series in now.samples.items():
        old = before.samples.get(name, {})
        out[name] = {
            labels: (v - old.get(labels, 0.0)) if v >= old.get(labels, 0.0) else v
            for labels, v in series.items()
        }
    return Scrape(out)


def fetch(url: str, timeout: float = 1.0) -> Scrape:
    """GET and parse ``url``; an unreachable or broken endpoint gives an empty scrape."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URL
            return Scrape.parse(response.read().decode("utf-8"))
    except (OSError, ValueError):
        return Scrape()


def _matches(labels: LabelSet, match: Mapping[str, str]) -> bool:
    if not match:
        return True
    mapping = dict(labels)
    return all(mapping.get(k) == v for k, v in match.items())
