"""Canary and shadow verdicts: pairing in the join, counts in the fold, decisions in the agent."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.monitoring.control.aggregator import Aggregator
from streamapp.monitoring.dataplane import store as st
from streamapp.monitoring.dataplane.fold import Folder
from streamapp.monitoring.dataplane.join import expire, join_batch
from streamapp.monitoring.dataplane.store import PartitionStore
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import Decision, PromotionDecision, Variant
from streamapp.settings.monitoring import MonitoringSettings, VerdictSettings
from streamapp.statistics.summary import SCALE, Summary
from tests.unit.monitoring.data import (
    T0,
    TTL,
    add_candidate,
    records,
    shadow_events,
    with_raw,
)


@pytest.fixture
def specs(model_registry_dir: Path) -> SpecCache:
    add_candidate(model_registry_dir)
    add_candidate(model_registry_dir, "friedman-reg")
    return SpecCache(ModelRegistry(model_registry_dir))


def test_one_label_joins_primary_and_shadow_and_pairs_them(store: PartitionStore) -> None:
    prim, cand, labels = shadow_events(6, 0.8, 0.9)
    p, _ = records(prim, [])
    c, lab = records(cand, labels)
    first = join_batch(store, with_raw(p + c), [], TTL, T0, keep_label=True)
    assert first.counts["held_prediction"] == 12 and first.counts["duplicate_prediction"] == 0
    store.commit(b"{}")
    again = join_batch(store, with_raw(c[:2]), [], TTL, T0, keep_label=True)  # re-sent shadow
    assert again.counts["duplicate_prediction"] == 2
    second = join_batch(store, [], with_raw(lab), TTL, T0, keep_label=True)
    assert len(second.joined) == 12 and second.held_delta()["prediction"] == -12
    assert sorted((a.event_id, a.variant, b.variant) for a, b, _ in second.pairs) == sorted(
        (x.event_id, "primary", "shadow") for x in p
    )
    dup = join_batch(store, with_raw(p), with_raw(lab), TTL, T0, keep_label=True)
    assert dup.joined == [] and dup.counts["duplicate_prediction"] == 6
    assert dup.counts["duplicate_label"] == 6


@pytest.mark.parametrize("order", ["label-primary-shadow", "primary-label-shadow",
                                   "label-shadow-primary"])
def test_a_prediction_after_the_label_still_pairs_in_shadow_mode(
    store: PartitionStore, order: str
) -> None:
    prim, cand, labels = shadow_events(3, 0.8, 0.9)
    (p, _), (c, lab) = records(prim, []), records(cand, labels)
    steps = {"label": ([], lab), "primary": (p, []), "shadow": (c, [])}
    pairs, joined = [], 0
    for step in order.split("-"):
        preds, labs = steps[step]
        res = join_batch(store, with_raw(preds), with_raw(labs), TTL, T0, keep_label=True)
        pairs += res.pairs
        joined += len(res.joined)
        store.commit(b"{}")
    assert joined == 6
    assert sorted(a.event_id for a, _, _ in pairs) == sorted(x.event_id for x in p)
    assert all(a.variant == "primary" and b.variant == "shadow" for a, b, _ in pairs)
    assert all(b.model_version == "2" and a.model_version == "1" for a, b, _ in pairs)


def test_without_shadow_mode_a_joined_event_is_a_bare_tombstone(store: PartitionStore) -> None:
    prim, _, labels = shadow_events(2, 0.8, 0.9)
    p, lab = records(prim, labels)
    res = join_batch(store, with_raw(p), with_raw(lab), TTL, T0)
    assert len(res.joined) == 2
    assert all(v is not None and v[:1] == st.JOINED
               for v in store.get_many([st.data_key(x.event_id) for x in p]))


def test_both_pending_predictions_of_an_event_expire(store: PartitionStore) -> None:
    prim, cand, _ = shadow_events(2, 0.8, 0.9)
    (p, _), (c, _) = records(prim, []), records(cand, [])
    join_batch(store, with_raw(p + c), [], TTL, T0, keep_label=True)
    store.commit(b"{}")
    res = expire(store, T0 + 10 * TTL, TTL, 100)
    assert sorted((r.event_id, r.variant) for r in res.expired) == sorted(
        [(x.event_id, "primary") for x in p] + [(x.event_id, "shadow") for x in p]
    )
    assert res.held_delta()["prediction"] == -4


def _fold_shadow(specs: SpecCache, n: int, primary: float, candidate: float, seed: int,
                 model: str = "agrawal-clf", partitions: int = 3) -> list[Summary]:
    prim, cand, labels = shadow_events(n, primary, candidate, seed, model)
    (p, _), (c, lab) = records(prim, []), records(cand, labels)
    folder = Folder(specs, 10.0)
    out: list[Summary] = []
    for part in range(partitions):
        idx = range(part, n, partitions)
        pairs = [(p[i], c[i], lab[i]) for i in idx]
        joined = [(x, lab[i]) for i in idx for x in (p[i], c[i])]
        out += folder.fold(part, 1, [p[i] for i in idx] + [c[i] for i in idx], joined, [],
                           pairs)
    return out


def _merged_versus(summaries: list[Summary]) -> dict[str, int]:
    total: dict[str, int] = {}
    for s in summaries:
        for k, v in s.versus.items():
            total[k] = total.get(k, 0) + v
    return total


def test_shadow_counts_are_the_discordant_pairs_of_the_raw_data(specs: SpecCache) -> None:
    prim, cand, labels = shadow_events(900, 0.8, 0.85, seed=4)
    summaries = _fold_shadow(specs, 900, 0.8, 0.85, seed=4)
    assert {(s.version, s.variant) for s in summaries if s.versus} == {("2", "shadow")}
    right_p = np.array([a.predicted_label == y.label for a, y in zip(prim, labels, strict=True)])
    right_c = np.array([a.predicted_label == y.label for a, y in zip(cand, labels, strict=True)])
    assert _merged_versus(summaries) == {
        "1/n": 900, "1/b": int(np.sum(right_c & ~right_p)), "1/c": int(np.sum(right_p & ~right_c)),
    }
    again = Summary.from_json(summaries[0].to_json())
    assert again.versus == summaries[0].versus


def test_a_version_is_never_compared_with_itself(specs: SpecCache) -> None:
    """After a promotion the shadow slot may briefly score the new production version: such
    pairs (and canary arms of one version) give no comparison counts, so no verdict."""
    prim, cand, labels = shadow_events(60, 0.8, 0.9, seed=5)
    (p, _), (c, lab) = records(prim, []), records(cand, labels)
    same = [msgspec.structs.replace(x, model_version=p[0].model_version) for x in c]
    pairs = [(p[i], same[i], lab[i]) for i in range(60)]
    joined = [(x, lab[i]) for i in range(60) for x in (p[i], same[i])]
    summaries = Folder(specs, 10.0).fold(0, 1, [], joined, [], pairs)
    assert _merged_versus(summaries) == {}
    canary = [msgspec.structs.replace(x, variant="canary") for x in same]
    joined = [(x, lab[i]) for i in range(60) for x in (p[i], canary[i])]
    assert _merged_versus(Folder(specs, 10.0).fold(0, 1, [], joined, [])) == {}


def test_shadow_regression_sums_are_exact(specs: SpecCache) -> None:
    prim, cand, labels = shadow_events(500, 1.0, 0.8, seed=2, model="friedman-reg")
    summaries = _fold_shadow(specs, 500, 1.0, 0.8, seed=2, model="friedman-reg")
    v = _merged_versus(summaries)
    d = np.array([abs(y.label - a.predicted_value) - abs(y.label - b.predicted_value)  # type: ignore[operator]
                  for a, b, y in zip(prim, cand, labels, strict=True)])
    assert v["1/n"] == 500
    assert v["1/d"] / SCALE == pytest.approx(d.sum(), abs=1e-6)
    assert sum(c for k, c in v.items() if k.startswith("1/h")) == 500


def test_canary_counts_only_matched_buckets(specs: SpecCache) -> None:
    prim, cand, labels = shadow_events(40, 0.8, 0.9, variant=Variant.CANARY)
    (p, _), (c, lab) = records(prim, []), records(cand, labels)
    # events 0-19 (buckets 0, 1) go to the candidate, 20-39 (buckets 2, 3) to the primary;
    # event 5's primary outcome is the only one in a bucket the candidate also has
    joined = [(c[i], lab[i]) for i in range(20)] + [(p[i], lab[i]) for i in range(20, 40)]
    joined.append((p[5], lab[5]))
    summaries = Folder(specs, 10.0).fold(0, 1, [], joined, [])
    v = _merged_versus(summaries)
    assert v["1/pn"] == 1 and v["1/cn"] == 10  # bucket 0 only
    assert v["1/cright"] == sum(int(c[i].predicted_label == lab[i].label) for i in range(10))


def _agg(specs: SpecCache, registry: CollectorRegistry | None = None, **cfg: object) -> Aggregator:
    settings = MonitoringSettings(verdicts=VerdictSettings(**cfg))  # type: ignore[arg-type]
    metrics = AggregateMetrics(registry) if registry is not None else None
    return Aggregator(settings, specs, {}, metrics)


def _decisions(agg: Aggregator, summaries: list[Summary]) -> list[PromotionDecision]:
    out = []
    for s in summaries:
        agg.handle(s, 1000.0)
        out += agg.take_decisions()
    return out


def test_a_better_shadow_candidate_is_promoted_once(specs: SpecCache) -> None:
    reg = CollectorRegistry()
    agg = _agg(specs, reg, min_samples=1000)  # no look on the first summary (750 pairs)
    summaries = _fold_shadow(specs, 3000, 0.80, 0.90, seed=1, partitions=4)
    decisions = _decisions(agg, summaries + summaries)  # every summary delivered twice
    assert [d.decision for d in decisions] == [Decision.KEEP_COLLECTING, Decision.PROMOTE]
    promote = decisions[-1]
    assert promote.test.startswith("mcnemar") and promote.effect > 0
    assert promote.p_value < promote.alpha == pytest.approx(0.05 / 8)
    assert promote.idempotency_key == "agrawal-clf/2/1/shadow/promote"
    snap = agg.verdicts.snapshot(next(iter(agg.verdicts._changed.values())))
    assert snap["samples"] == 3000  # the replayed summaries did not count twice
    agg.export_gauges()
    ids = {"model": "agrawal-clf", "version": "2", "primary_version": "1", "mode": "shadow"}
    assert reg.get_sample_value("streamapp_candidate_verdict", ids) == 1.0
    assert reg.get_sample_value("streamapp_candidate_samples", {**ids, "arm": "candidate"}) == 3000
    assert reg.get_sample_value(
        "streamapp_promotion_decisions_total", {"model": "agrawal-clf", "version": "2",
                                                "mode": "shadow", "decision": "promote"}) == 1


def test_a_worse_regression_shadow_is_rolled_back(specs: SpecCache) -> None:
    agg = _agg(specs, min_samples=200, bootstrap_resamples=1000)
    summaries = _fold_shadow(specs, 2000, 1.0, 1.3, seed=3, model="friedman-reg")
    decisions = _decisions(agg, summaries)
    assert decisions[-1].decision == Decision.ROLL_BACK
    assert decisions[-1].test == "paired_bootstrap" and decisions[-1].metric == "mae"
    assert decisions[-1].ci_upper < 0


def test_equal_versions_keep_collecting(specs: SpecCache) -> None:
    agg = _agg(specs, min_samples=100)
    decisions = _decisions(agg, _fold_shadow(specs, 3000, 0.85, 0.85, seed=9))
    assert [d.decision for d in decisions] == [Decision.KEEP_COLLECTING]


def test_a_better_canary_is_promoted_on_matched_buckets(specs: SpecCache) -> None:
    prim, cand, labels = shadow_events(6000, 0.75, 0.9, seed=5, variant=Variant.CANARY)
    (p, _), (c, lab) = records(prim, []), records(cand, labels)
    folder = Folder(specs, 10.0)
    summaries: list[Summary] = []
    for seq, start in enumerate(range(0, 6000, 500), start=1):
        # every 4th event is in the canary share, the rest is served by the primary
        joined = [((c if i % 4 == 0 else p)[i], lab[i]) for i in range(start, start + 500)]
        summaries += folder.fold(0, seq, [], joined, [])
    decisions = _decisions(_agg(specs, min_samples=200), summaries)
    assert decisions[-1].decision == Decision.PROMOTE
    assert decisions[-1].test == "z_test" and decisions[-1].mode == Variant.CANARY
    assert decisions[-1].primary_samples > decisions[-1].samples


def test_an_unbounded_interval_is_published_as_null() -> None:
    from streamapp.monitoring.control.verdicts import Comparison, Verdicts

    verdicts = Verdicts(VerdictSettings(), {})
    c = Comparison("friedman-reg", "2", "shadow", "1", classification=False)
    first = verdicts.update(c, {"n": 1, "d": 5, "h0": 1}, 0, 1, 0.0)
    assert first is not None and first.decision == Decision.KEEP_COLLECTING
    assert first.ci_lower is None and first.ci_upper is None
    assert PromotionDecision.model_validate_json(first.model_dump_json()) == first
    assert verdicts.update(c, {"n": 1, "d": 5, "h0": 1}, 0, 1, 0.0) is None  # replayed seq
    assert verdicts.state[c.key]["counts"]["n"] == 1
