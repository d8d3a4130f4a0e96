"""Canary and shadow verdicts in the policy agent: merged comparison counts → promotion decisions.

A comparison is one (model, candidate version, mode, primary version); its counts
arrive in the candidate's summaries (``Summary.versus``, folded by
:mod:`streamapp.monitoring.dataplane.comparison`) and are merged in the policy Table under
``verdict:<model>/<candidate>/<mode>/<primary>``, with the checkpoint sequence
number applied per join partition, so a re-emitted summary counts once.

Decisions are taken at *looks*, not at every summary: look k happens when the
sample count first reaches ``min_samples * 2**k`` (k < ``looks``), and each look
tests at ``alpha / looks`` (Bonferroni), so the chance of any wrong promote or
roll back between equal versions stays at most ``alpha`` however long the
comparison runs. A significant difference decides ``promote`` (candidate better)
or ``roll_back`` (worse); that decision is final for the comparison. Every change
of decision (the first ``keep_collecting`` included) yields one
:class:`~streamapp.schemas.PromotionDecision`.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.schemas import Decision, PromotionDecision, Variant
from streamapp.settings.monitoring import VerdictSettings
from streamapp.statistics import verdict_stats as vs
from streamapp.statistics.summary import SCALE

State = MutableMapping[str, Any]
PREFIX = "verdict:"
_FINAL = (Decision.PROMOTE.value, Decision.ROLL_BACK.value)
_BOUND = {"effect": "estimate", "lower": "lower", "upper": "upper"}
_SIGN = {Decision.PROMOTE.value: 1.0, Decision.KEEP_COLLECTING.value: 0.0,
         Decision.ROLL_BACK.value: -1.0}


@dataclass(frozen=True)
class Comparison:
    """Which candidate is compared with which primary, how."""

    model: str
    candidate: str
    mode: str
    """``shadow`` (paired) or ``canary`` (matched buckets)."""
    primary: str
    classification: bool

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.model}/{self.candidate}/{self.mode}/{self.primary}"


def samples(mode: str, counts: dict[str, int]) -> tuple[int, int]:
    """(candidate samples, primary samples): labelled pairs twice (shadow), or each arm's
    outcomes in matched buckets (canary)."""
    if mode == Variant.SHADOW.value:
        return counts.get("n", 0), counts.get("n", 0)
    return counts.get("cn", 0), counts.get("pn", 0)


def run_test(c: Comparison, counts: dict[str, int], level: float, resamples: int) -> vs.TestResult:
    """The comparison's test on its merged counts (see :mod:`.verdict_stats`)."""
    g = counts.get
    if c.mode == Variant.SHADOW.value:
        n = g("n", 0)
        if c.classification:
            return vs.mcnemar(n, g("b", 0), g("c", 0), level)
        hist = {int(k[1:]): v for k, v in counts.items() if k.startswith("h") and v}
        mean = g("d", 0) / SCALE / n if n else 0.0
        seed = n * 1_000_003 + g("d", 0) % 1_000_003  # deterministic for the same counts
        return vs.paired_bootstrap(n, mean, hist, level, resamples, seed)
    if c.classification:
        return vs.two_proportions(g("cn", 0), g("cright", 0), g("pn", 0), g("pright", 0), level)
    return vs.welch_abs_error(
        g("cn", 0), g("cabs", 0) / SCALE, g("csq", 0) / SCALE,
        g("pn", 0), g("pabs", 0) / SCALE, g("psq", 0) / SCALE, level,
    )


def estimate(c: Comparison, counts: dict[str, int]) -> float:
    """The effect on the counts so far (cheap: no test), NaN without samples."""
    g = counts.get
    if c.mode == Variant.SHADOW.value:
        n = g("n", 0)
        if not n:
            return math.nan
        return (g("b", 0) - g("c", 0)) / n if c.classification else g("d", 0) / SCALE / n
    n_c, n_p = g("cn", 0), g("pn", 0)
    if not (n_c and n_p):
        return math.nan
    if c.classification:
        return g("cright", 0) / n_c - g("pright", 0) / n_p
    return (g("pabs", 0) / n_p - g("cabs", 0) / n_c) / SCALE


def split(versus: dict[str, int]) -> dict[str, dict[str, int]]:
    """``<primary>/<count>`` keys grouped by primary version.

    >>> split({"1/n": 3, "1/b": 1, "2/n": 4})
    {'1': {'n': 3, 'b': 1}, '2': {'n': 4}}
    """
    out: dict[str, dict[str, int]] = {}
    for key, value in versus.items():
        primary, name = key.rsplit("/", 1)
        out.setdefault(primary, {})[name] = value
    return out


class Verdicts:
    """Merges comparison counts, takes decisions at looks, exports the verdict gauges."""

    def __init__(
        self, settings: VerdictSettings, state: State, metrics: AggregateMetrics | None = None
    ) -> None:
        self.settings = settings
        self.state = state
        self.metrics = metrics
        self._changed: dict[str, Comparison] = {}

    def update(
        self, c: Comparison, counts: dict[str, int], partition: int, seq: int, now: float
    ) -> PromotionDecision | None:
        """Merge one summary's counts; the decision record when the decision changed."""
        record = dict(self.state.get(c.key) or {})
        seen = dict(record.get("seq") or {})
        if int(seen.get(str(partition), -1)) >= seq:
            return None  # already applied (a re-emitted checkpoint)
        merged = dict(record.get("counts") or {})
        for name, value in counts.items():
            merged[name] = merged.get(name, 0) + value
        seen[str(partition)] = seq
        record.update(counts=merged, seq=seen)
        self._changed[c.key] = c
        out = None
        if record.get("decision") not in _FINAL:
            out = self._look(c, record, now)
        self.state[c.key] = record
        return out

    def _look(self, c: Comparison, record: dict[str, Any], now: float) -> PromotionDecision | None:
        cfg = self.settings
        counts = record["counts"]
        n, n_primary = samples(c.mode, counts)
        look = int(record.get("look", 0))
        due = look
        while due < cfg.looks and n >= cfg.min_samples * 2**due:
            due += 1  # several thresholds passed at once still make one look
        decision = record.get("decision") or Decision.KEEP_COLLECTING.value
        alpha = cfg.look_alpha()
        result = None
        if due > look:
            record["look"] = due
            result = run_test(c, counts, 1 - alpha, cfg.bootstrap_resamples)
            record["last"] = {"p_value": _finite(result.p_value), "lower": _finite(result.lower),
                              "upper": _finite(result.upper), "test": result.test}
            if result.p_value < alpha and result.effect != 0:
                decision = (Decision.PROMOTE if result.effect > 0 else Decision.ROLL_BACK).value
        if decision == record.get("decision"):
            return None
        record["decision"] = decision
        if result is None:
            result = run_test(c, counts, 1 - alpha, cfg.bootstrap_resamples)
        if self.metrics is not None:
            self.metrics.promotion_decisions.labels(c.model, c.candidate, c.mode, decision).inc()
        return PromotionDecision(
            model_name=c.model, candidate_version=c.candidate, primary_version=c.primary,
            mode=Variant(c.mode), decision=Decision(decision),
            metric="accuracy" if c.classification else "mae", test=result.test,
            effect=result.effect, ci_lower=_finite(result.lower), ci_upper=_finite(result.upper),
            confidence=result.level, p_value=result.p_value, alpha=alpha, samples=n,
            primary_samples=n_primary, look=max(0, int(record.get("look", 0)) - 1),
            idempotency_key=f"{c.model}/{c.candidate}/{c.primary}/{c.mode}/{decision}",
            decided_at=datetime.fromtimestamp(now, UTC),
        )

    def snapshot(self, c: Comparison) -> dict[str, Any]:
        """What the gauges show: the effect and samples now, the interval and p-value of
        the latest look (NaN before the first; decisions change only at looks, and a paired
        bootstrap is too dear to rerun on every refresh)."""
        record = self.state.get(c.key) or {}
        counts = dict(record.get("counts") or {})
        last = record.get("last") or {}
        n, n_primary = samples(c.mode, counts)
        return {
            "decision": record.get("decision") or Decision.KEEP_COLLECTING.value,
            "looks": int(record.get("look", 0)), "samples": n, "primary_samples": n_primary,
            "effect": estimate(c, counts),
            "lower": _number(last.get("lower")),
            "upper": _number(last.get("upper")),
            "p_value": _number(last.get("p_value")),
        }

    def export_gauges(self) -> None:
        """Refresh the gauges of the comparisons changed since the last call (timer)."""
        changed, self._changed = self._changed, {}
        m = self.metrics
        if m is None:
            return
        for c in changed.values():
            snap = self.snapshot(c)
            ids = (c.model, c.candidate, c.primary, c.mode)
            metric = "accuracy" if c.classification else "mae"
            m.candidate_verdict.labels(*ids).set(_SIGN[snap["decision"]])
            for bound in ("effect", "lower", "upper"):
                m.candidate_effect.labels(*ids, metric, _BOUND[bound]).set(snap[bound])
            m.candidate_p_value.labels(*ids).set(snap["p_value"])
            m.candidate_samples.labels(*ids, "candidate").set(snap["samples"])
            m.candidate_samples.labels(*ids, "primary").set(snap["primary_samples"])
            m.candidate_looks.labels(*ids).set(snap["looks"])


def _finite(value: float) -> float | None:
    """None for an infinite or NaN value (JSON in the Table and on the topic has no such)."""
    return value if math.isfinite(value) else None


def _number(value: Any) -> float:
    """A stored number back as a float (NaN for None / absent)."""
    return math.nan if value is None else float(value)
