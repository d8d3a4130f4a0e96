from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

import orjson

from streamapp.demo.traffic import MALFORMED_KINDS, TrafficPlan, plan_events, relabel
from streamapp.features import FeatureEncoder, FeatureError
from streamapp.schemas import Event
from streamapp.training.synthetic import AGRAWAL_FEATURES

PLAN = TrafficPlan(rate=100.0, duration_s=40.0, drift_at_s=10.0, seed=5, malformed_share=0.02)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    first = list(plan_events(PLAN))
    assert first == list(plan_events(PLAN))
    other = list(islice(plan_events(TrafficPlan(seed=6, rate=100.0, duration_s=40.0)), 50))
    assert [e.features for e in other] != [e.features for e in first[:50]]
    assert [e.payload(NOW) for e in first[:20]] == [e.payload(NOW) for e in first[:20]]


def test_drift_starts_at_the_planned_point_and_labels_follow_the_new_concept() -> None:
    events = list(plan_events(PLAN))
    assert len(events) == PLAN.total_events == 4000
    assert [e.drifted for e in events].index(True) == 1000
    assert events[1000].at_s == 10.0
    for event in events[1000:1200]:
        if event.malformed is None:
            assert event.label == relabel(6, event.features)
    before = [e.features["salary"] for e in events[:1000]]
    after = [e.features["salary"] for e in events[1000:]]
    assert min(after) >= 20_000 + PLAN.salary_shift - 1e-6
    assert sum(after) / len(after) > sum(before) / len(before) + 10_000


def test_valid_events_match_the_wire_contract_and_the_model_features() -> None:
    encoder = FeatureEncoder(AGRAWAL_FEATURES)
    for event in islice(plan_events(PLAN), 300):
        if event.malformed is None:
            parsed = Event.model_validate_json(event.payload(NOW))
            assert parsed.event_id == event.event_id
            encoder.encode(parsed.features)


def test_malformed_events_are_few_of_every_kind_and_never_labelled() -> None:
    events = list(plan_events(PLAN))
    bad = [e for e in events if e.malformed]
    assert 40 <= len(bad) <= 120
    assert {e.malformed for e in bad} == set(MALFORMED_KINDS)
    encoder = FeatureEncoder(AGRAWAL_FEATURES)
    for event in bad:
        assert event.label_delay_s is None
        if event.malformed == "invalid_json":
            try:
                orjson.loads(event.payload(NOW))
            except orjson.JSONDecodeError:
                continue
            raise AssertionError("invalid_json payload parsed")
        try:
            encoder.encode(orjson.loads(event.payload(NOW))["features"])
        except FeatureError:
            continue
        raise AssertionError(f"{event.malformed} event encoded fine")


def test_some_labels_never_arrive_and_delays_are_bounded() -> None:
    events = [e for e in plan_events(PLAN) if e.malformed is None]
    dropped = sum(e.label_delay_s is None for e in events)
    assert 0.05 < dropped / len(events) < 0.15
    delays = [e.label_delay_s for e in events if e.label_delay_s is not None]
    assert min(delays) > 0
    assert max(delays) <= 4 * PLAN.label_delay_median_s
    assert 1.5 < sorted(delays)[len(delays) // 2] < 2.5
