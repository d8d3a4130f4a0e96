"""The demo's once-a-second loop: scrape both workers, follow the retrainer, mark events.

Each tick builds a :class:`Sample` from the scorer's and the monitor's
``/metrics`` plus the observer's own numbers, appends the retrainer's new
events (its JSON-lines file), marks drift detection, retrain requests, a new
version entering shadow, the monitor's verdict on it and the promotion of
production, and updates the view. It ends when the traffic is done and the
last predictions arrived (or ``drain_s`` passed), or when the demo is stopped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamapp.demo.observer import SeenDecision
from streamapp.demo.producer import TrafficProducer
from streamapp.demo.result import Marker, Sample
from streamapp.demo.scrape import Scrape, delta, fetch, minus
from streamapp.monitoring.control.windows import count_window_label
from streamapp.registry.registry import ModelRegistry
from streamapp.retrain.events import events
from streamapp.schemas import Decision, PromotionDecision
from streamapp.training.synthetic import AGRAWAL_MODEL

if TYPE_CHECKING:
    from streamapp.demo.runner import DemoRun

PSI_THRESHOLD = 0.25
MIN_DRIFT_SAMPLES = 200
TICK_S = 1.0


def verdict_text(d: PromotionDecision) -> str:
    """One line for a promotion decision: what, test, effect, p-value, samples.

    >>> from datetime import UTC, datetime
    >>> d = PromotionDecision(model_name="m", candidate_version="2", primary_version="1",
    ...     mode="shadow", decision="promote", metric="accuracy", test="mcnemar", effect=0.4812,
    ...     ci_lower=0.43, ci_upper=0.53, confidence=0.99375, p_value=3.2e-41, alpha=0.00625,
    ...     samples=212, primary_samples=212, look=0, idempotency_key="k",
    ...     decided_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> verdict_text(d)
    'promote v2 vs v1: mcnemar, accuracy effect +0.481, p=3.2e-41 < 0.00625, 212 pairs'
    """
    unit = "pairs" if d.mode.value == "shadow" else "candidate outcomes"
    cmp = "<" if d.p_value < d.alpha else "≥"
    return (
        f"{d.decision.value} v{d.candidate_version} vs v{d.primary_version}: {d.test}, "
        f"{d.metric} effect {d.effect:+.3f}, p={d.p_value:.2g} {cmp} {d.alpha:g}, "
        f"{d.samples} {unit}"
    )


class Loop:
    """Samples, markers and retrain status of one run (filled while it runs)."""

    def __init__(
        self,
        run: DemoRun,
        registry: ModelRegistry,
        producer: TrafficProducer,
        retrain_log: Path,
        count_window: int,
    ) -> None:
        self.run_ = run
        self.registry = registry
        self.producer = producer
        self.retrain_log = retrain_log
        """The retrainer's JSON log: its events are followed there."""
        self.accuracy_window = count_window_label(count_window)
        self.samples: list[Sample] = []
        self.last_scrapes: dict[str, Scrape] = {}
        """Each worker's last answered ``/metrics`` scrape (for the report's totals)."""
        self.retrain_events: list[dict[str, Any]] = []
        self.retrain_status = "idle"
        self.notes: list[str] = []
        self._offset = 0
        self._serving = registry.pointer(AGRAWAL_MODEL) or "1"
        self._requests_seen: set[str] = set()
        self._decisions_seen = 0
        self._detected = False
        self._alarms_at_drift: float | None = None

    @property
    def workers(self) -> dict[str, str]:
        return {w.name: f"{w.url}/metrics" for w in self.run_.workers if w.http_port}

    def run(self) -> None:
        """Tick until the traffic is done and drained, or the demo is stopped."""
        run, obs = self.run_, self.run_.observer
        assert obs is not None
        prev = {"score": Scrape(), "monitor": Scrape()}
        last = time.monotonic()
        drained_since: float | None = None
        while not run.stop.is_set():
            time.sleep(max(0.0, TICK_S - (time.monotonic() - last)))
            now_mono = time.monotonic()
            dt, last = now_mono - last, now_mono
            scrapes = {role: fetch(url) for role, url in self.workers.items()}
            self.last_scrapes.update((r, s) for r, s in scrapes.items() if s.samples)
            sample = self._sample(obs.now(), scrapes, prev, dt)
            prev = {k: scrapes.get(k, Scrape()) for k in prev}
            self.samples.append(sample)
            self._follow_retrainer(obs.now())
            self._mark(obs.now(), sample, scrapes.get("monitor", Scrape()))
            run.view.show(sample, self.retrain_status, self.notes)
            for worker in run.workers:
                if not worker.alive():
                    run.error = f"{worker.name} exited unexpectedly:\n{worker.log_tail()}"
                    run.view.note(run.error)
                    return
            if self.producer.done.is_set():
                drained_since = drained_since or now_mono
                expected = self.producer.truth.events_sent - self.producer.truth.malformed_sent
                if obs.predictions >= expected or now_mono - drained_since > run.options.drain_s:
                    return

    def _sample(
        self, t: float, scrapes: dict[str, Scrape], prev: dict[str, Scrape], dt: float
    ) -> Sample:
        obs = self.run_.observer
        assert obs is not None
        score, mon = scrapes.get("score", Scrape()), scrapes.get("monitor", Scrape())
        throughput = p50 = p99 = batch = lag = None
        if score.has("streamapp_predictions_total"):
            throughput = delta(score, prev["score"], "streamapp_predictions_total") / max(dt, 1e-3)
            interval = minus(score, prev["score"])
            q50 = interval.quantile("streamapp_end_to_end_latency_seconds", 0.5)
            q99 = interval.quantile("streamapp_end_to_end_latency_seconds", 0.99)
            p50 = None if q50 is None else q50 * 1000
            p99 = None if q99 is None else q99 * 1000
            n_batches = delta(score, prev["score"], "streamapp_batch_size_count")
            if n_batches:
                batch = delta(score, prev["score"], "streamapp_batch_size_sum") / n_batches
            lag = score.total("streamapp_consumer_lag")
        if p50 is None and (observed := obs.latency(t - 3, None)) is not None:
            p50, p99 = observed[0] * 1000, observed[1] * 1000
        serving = self.registry.pointer(AGRAWAL_MODEL) or self._serving
        coverage = mon.by("streamapp_label_coverage_ratio", "version", model=AGRAWAL_MODEL)
        monitor_acc = mon.by(
            "streamapp_model_metric",
            "version",
            model=AGRAWAL_MODEL,
            metric="accuracy",
            variant="primary",
            holdout="false",
            window=self.accuracy_window,
        )
        drift = mon.by(
            "streamapp_feature_drift",
            "feature",
            model=AGRAWAL_MODEL,
            version=serving,
            statistic="psi",
        )
        return Sample(
            t=round(t, 2),
            events_sent=self.producer.truth.events_sent,
            throughput=throughput,
            p50_ms=p50,
            p99_ms=p99,
            batch_size=batch,
            lag=lag,
            dead_letters=score.total("streamapp_dead_letter_total")
            if score.samples
            else float(sum(obs.dead_letters.values())),
            label_coverage=coverage.get(serving),
            accuracy={v: a for v, (a, n) in obs.accuracy(t - 5).items() if n >= 10},
            monitor_accuracy=monitor_acc,
            drift=drift,
        )

    def _follow_retrainer(self, t: float) -> None:
        try:
            with self.retrain_log.open(encoding="utf-8") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind("\n") + 1]
        self._offset += len(complete.encode("utf-8"))
        for event in events(complete.splitlines()):
            event["t"] = round(t, 2)
            self._on_retrain_event(event)

    def _on_retrain_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "progress":
            self.run_.view.training(int(event["epoch"]), int(event["epochs"]))
            self.retrain_status = f"training epoch {event['epoch']}/{event['epochs']}"
            return
        self.retrain_events.append(event)
        if kind == "collecting":
            self.retrain_status = f"collecting outcomes {event['have']}/{event['need']}"
            return
        if kind == "training":
            self.retrain_status = f"training on {event['samples']} outcomes"
        elif kind in ("promoted", "rejected"):
            what = "in shadow" if event.get("pointer") == "candidate" else kind
            self.retrain_status = (
                f"v{event['new_version']} {what}: {event['metric']} {event['candidate']:.3f} "
                f"vs serving {event['serving']:.3f}"
            )
        elif kind in ("skipped", "failed", "duplicate"):
            self.retrain_status = f"{kind}: {event.get('why', event.get('key'))}"
        elif kind in ("candidate_promoted", "candidate_rolled_back"):
            action = "production moved to" if kind == "candidate_promoted" else "rolled back"
            self.retrain_status = f"{action} v{event['version']} (verdict {event['decision']})"
        elif kind in ("decision_stale", "decision_failed"):
            self.retrain_status = f"{kind}: {event.get('why')}"
        if kind == "promoted" and event.get("pointer") == "production":
            self.run_.markers.append(Marker(event["t"], "promotion", str(event["new_version"])))
        elif kind == "promoted" and event.get("pointer") == "candidate":
            self.run_.markers.append(Marker(event["t"], "shadow", str(event["new_version"])))
        elif kind == "candidate_promoted":
            self.run_.markers.append(Marker(event["t"], "promotion", str(event["version"])))
        if kind not in ("ready", "decision_noted"):
            self._note(event["t"], f"retrainer: {self.retrain_status}")

    def _note(self, t: float, text: str) -> None:
        line = f"t={t:.0f}s {text}"
        self.notes.append(line)
        if not self.run_.view.tty:
            self.run_.view.note(line)

    def _mark(self, t: float, sample: Sample, monitor: Scrape) -> None:
        obs = self.run_.observer
        assert obs is not None
        with obs.lock:
            requests = list(obs.requests)
            decisions = obs.decisions[self._decisions_seen:]
        self._decisions_seen += len(decisions)
        for seen_decision in decisions:
            self._on_decision(seen_decision)
        for seen in requests:
            key = seen.request.idempotency_key
            if key not in self._requests_seen:
                self._requests_seen.add(key)
                req = seen.request
                text = f"{req.reason.value} {req.metric}={req.observed:.3f} (v{req.model_version})"
                self.run_.markers.append(Marker(seen.t, "request", text))
                self._note(seen.t, f"retrain requested: {text}")
        drift_t = self.run_.plan.drift_at_s
        alarms = monitor.total("streamapp_drift_detector_alarms_total", model=AGRAWAL_MODEL)
        if t < drift_t:
            self._alarms_at_drift = alarms
            return
        if self._detected:
            return
        window = monitor.total("streamapp_drift_window_samples", model=AGRAWAL_MODEL)
        # PSI over a nearly empty window is noise: count it only from MIN_DRIFT_SAMPLES on.
        drifted = [
            f for f, v in sample.drift.items() if v > PSI_THRESHOLD and window >= MIN_DRIFT_SAMPLES
        ]
        alarm = self._alarms_at_drift is not None and alarms > self._alarms_at_drift
        if drifted or alarm or self._requests_seen:
            self._detected = True
            what = (
                f"PSI > {PSI_THRESHOLD} on {', '.join(sorted(drifted))}"
                if drifted
                else ("detector alarm" if alarm else "retrain request")
            )
            self.run_.markers.append(Marker(t, "detected", what))
            self._note(t, f"drift detected: {what}")

    def _on_decision(self, seen: SeenDecision) -> None:
        """Note every verdict; mark the final ones (promote / roll back) with their numbers."""
        d = seen.decision
        text = verdict_text(d)
        if d.decision != Decision.KEEP_COLLECTING:
            self.run_.markers.append(Marker(seen.t, "verdict", text))
        self._note(seen.t, f"{d.mode.value} verdict: {text}")

    def accuracy_series(
        self, bucket_s: float | None = None
    ) -> dict[str, list[tuple[float, float, int]]]:
        """Observed accuracy per version in fixed buckets (about 40 over the run)."""
        obs = self.run_.observer
        if obs is None:
            return {}
        size = bucket_s or max(2.0, round(self.run_.plan.duration_s / 40))
        end = obs.now()
        series: dict[str, list[tuple[float, float, int]]] = {}
        start = 0.0
        while start < end:
            for version, (acc, n) in obs.accuracy(start, start + size).items():
                series.setdefault(version, []).append((start + size / 2, round(acc, 4), n))
            start += size
        return series
