"""What a demo run recorded, and the verdict: did the loop close?

The loop is closed when drift was detected after the drift point, a retrain
request was emitted, a new version was promoted and served (its predictions
seen), and that version's accuracy on the drifted traffic reached the stated
level over enough predictions. When the new version went through a shadow
phase first (the demo's default), the monitor's verdict on it must also have
been ``promote``. :func:`judge` is pure, so it is unit-tested.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from streamapp.demo.traffic import TrafficPlan


@dataclass(frozen=True)
class Sample:
    """One tick of the live view (about one per second), in demo time ``t`` seconds."""

    t: float
    events_sent: int
    throughput: float | None
    """Predictions per second (scorer ``streamapp_predictions_total`` rate)."""
    p50_ms: float | None
    p99_ms: float | None
    """End-to-end latency (scorer histogram over the last interval, else observed)."""
    batch_size: float | None
    lag: float | None
    dead_letters: float
    label_coverage: float | None
    accuracy: dict[str, float] = field(default_factory=dict)
    """Observed accuracy per version over the last few seconds (truth known to the demo)."""
    monitor_accuracy: dict[str, float] = field(default_factory=dict)
    """The monitor's rolling accuracy per version (``streamapp_model_metric``)."""
    drift: dict[str, float] = field(default_factory=dict)
    """Monitor PSI per feature of the serving version."""


@dataclass(frozen=True)
class Marker:
    """A moment worth marking on the plots: drift, detection, request, shadow, verdict,
    promotion (``shadow`` and ``promotion`` name the version in ``text``)."""

    t: float
    kind: str
    text: str


@dataclass(frozen=True)
class Verdict:
    """Each stage of the loop, and the accuracy the new version reached."""

    drift_detected: bool
    retrain_requested: bool
    promoted: bool
    recovered: bool
    new_version: str | None
    recovered_accuracy: float | None
    recovered_n: int
    threshold: float
    shadowed: bool = False
    """The new version was scored in shadow before it was promoted."""
    shadow_verdict: str | None = None
    """The monitor's last decision on the new version (``promote``, ``keep_collecting``, …)."""

    @property
    def closed(self) -> bool:
        by_verdict = not self.shadowed or self.shadow_verdict == "promote"
        return (
            self.drift_detected and self.retrain_requested and self.promoted and self.recovered
            and by_verdict
        )


def judge(
    markers: list[Marker],
    served_versions: set[str],
    initial_version: str,
    accuracy: dict[str, tuple[float, int]],
    threshold: float,
    min_predictions: int,
    decisions: dict[str, str] | None = None,
) -> Verdict:
    """The verdict from the markers, the versions seen serving and post-promotion accuracy.

    ``accuracy`` maps version → (accuracy, predictions) on drifted traffic;
    ``decisions`` candidate version → the monitor's last decision on it.

    >>> ms = [Marker(10, "drift", ""), Marker(14, "detected", ""), Marker(15, "request", ""),
    ...       Marker(30, "promotion", "2")]
    >>> judge(ms, {"1", "2"}, "1", {"2": (0.97, 900)}, 0.85, 200).closed
    True
    >>> judge(ms, {"1", "2"}, "1", {"2": (0.70, 900)}, 0.85, 200).closed
    False
    """
    drift_t = next((m.t for m in markers if m.kind == "drift"), None)
    after_drift = [m for m in markers if drift_t is not None and m.t >= drift_t]
    detected = any(m.kind in ("detected", "request") for m in after_drift)
    requested = any(m.kind == "request" for m in markers)
    promotions = [m.text for m in markers if m.kind == "promotion" and m.text != initial_version]
    new_version = promotions[-1] if promotions else None
    promoted = new_version is not None and new_version in served_versions
    acc, n = accuracy.get(new_version or "", (None, 0))
    recovered = promoted and acc is not None and n >= min_predictions and acc >= threshold
    shadowed = any(m.kind == "shadow" and m.text == new_version for m in markers)
    decided = (decisions or {}).get(new_version or "")
    return Verdict(
        detected, requested, promoted, recovered, new_version, acc, n, threshold, shadowed, decided
    )


@dataclass
class DemoResult:
    """Everything the report needs."""

    plan: TrafficPlan
    samples: list[Sample]
    markers: list[Marker]
    accuracy_series: dict[str, list[tuple[float, float, int]]]
    """version → (bucket start t, accuracy, predictions) in fixed buckets (observer)."""
    counts: dict[str, float]
    verdict: Verdict
    retrain_events: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """The monitor's promotion decisions (``PromotionDecision`` fields) with the demo time
    ``t`` each was taken."""
    interrupted: bool = False
    error: str | None = None
    started_at: str = ""
    wall_s: float = 0.0
    format: str = "json"
    """Events, labels and predictions: ``json``, or ``avro`` through a Schema Registry."""

    def to_json(self) -> dict[str, Any]:
        """JSON-able summary (``summary.json``)."""
        data = asdict(self)
        data["verdict"]["closed"] = self.verdict.closed
        data["plan"]["total_events"] = self.plan.total_events
        return data
