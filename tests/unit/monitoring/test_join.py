"""The join state machine: arrival orders, duplicates, early labels, TTL expiry, restart."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.monitoring.join import Joiner, JoinResult, Kind
from streamapp.schemas import Label, LoggedPrediction
from tests.unit.monitoring.data import labels_for, predictions

PREDS = predictions(30, seed=3)
LABELS = {lab.event_id: lab for lab in labels_for(PREDS, correct=0.8)}
BY_ID = {p.event_id: p for p in PREDS}


def _feed(joiner: Joiner, record: LoggedPrediction | Label, now: float) -> JoinResult:
    part = int(record.event_id.split("-")[1]) % 4
    if isinstance(record, LoggedPrediction):
        return joiner.on_prediction(record, part, now)
    return joiner.on_label(record, part, now)


# A stream: which ids get a prediction / a label, how often each record repeats, and the order.
streams = st.lists(
    st.tuples(st.sampled_from(sorted(BY_ID)), st.booleans(), st.integers(1, 3)), max_size=60
).flatmap(
    lambda picks: st.permutations(
        [(eid, is_pred) for eid, is_pred, times in picks for _ in range(times)]
    )
)


@settings(max_examples=200, deadline=None)
@given(streams, st.integers(0, 40))
def test_each_event_joins_once_in_any_order_with_duplicates_and_restart(
    order: list[tuple[str, bool]], restart_at: int
) -> None:
    store: dict = {}
    joiner = Joiner(store, ttl_s=1e9)
    kinds: Counter[Kind] = Counter()
    joined: list[str] = []
    for i, (eid, is_pred) in enumerate(order):
        if i == restart_at:  # a new worker recovers the table (changelog) but no in-memory index
            joiner = Joiner(dict(store), ttl_s=1e9)
            store = joiner.store  # type: ignore[assignment]
        res = _feed(joiner, BY_ID[eid] if is_pred else LABELS[eid], now=float(i))
        kinds[res.kind] += 1
        if res.outcome is not None:
            joined.append(res.outcome.event_id)
            assert res.outcome.label == LABELS[eid].label
            assert res.outcome.predicted_label == BY_ID[eid].predicted_label
            assert res.outcome.label_lag_s == 60.0
    preds = {e for e, p in order if p}
    labels = {e for e, p in order if not p}
    assert sorted(joined) == sorted(preds & labels)
    dup = len(order) - len(preds) - len(labels)
    assert kinds[Kind.DUPLICATE_PREDICTION] + kinds[Kind.DUPLICATE_LABEL] == dup
    assert kinds[Kind.HELD] == len(preds | labels)  # the first record of each id waits


def test_label_before_prediction_joins_with_the_prediction_features() -> None:
    joiner = Joiner({}, ttl_s=100)
    p = PREDS[0]
    assert joiner.on_label(LABELS[p.event_id], 0, 0.0).kind is Kind.HELD
    res = joiner.on_prediction(p, 0, 1.0)
    assert res.kind is Kind.JOINED and res.outcome is not None and res.prediction == p
    assert res.outcome.features == p.features


def test_ttl_expiry_counts_expired_predictions_unmatched_and_late_labels() -> None:
    store: dict = {}
    joiner = Joiner(store, ttl_s=10)
    a, b, c = PREDS[0], PREDS[1], PREDS[2]
    joiner.on_prediction(a, 1, 0.0)  # expires without label
    joiner.on_label(LABELS[b.event_id], 1, 0.0)  # label never gets a prediction
    joiner.on_prediction(c, 1, 5.0)
    assert joiner.expire(1, 9.0) == []
    assert joiner.on_label(LABELS[c.event_id], 1, 9.5).kind is Kind.JOINED
    results = joiner.expire(1, 10.0)
    assert sorted(r.kind for r in results) == [Kind.EXPIRED_PREDICTION, Kind.UNMATCHED_LABEL]
    expired = next(r for r in results if r.kind is Kind.EXPIRED_PREDICTION)
    assert expired.prediction == a
    assert joiner.on_label(LABELS[a.event_id], 1, 12.0).kind is Kind.LATE_LABEL
    assert joiner.on_prediction(a, 1, 12.0).kind is Kind.DUPLICATE_PREDICTION
    assert joiner.expire(1, 19.5) == []  # tombstones go silently after one more TTL
    assert set(store) == {a.event_id}
    assert joiner.expire(1, 20.0) == [] and store == {}


def test_expiry_only_touches_its_partition_and_survives_a_restart() -> None:
    store: dict = {}
    joiner = Joiner(store, ttl_s=10)
    joiner.on_prediction(PREDS[0], 0, 0.0)
    joiner.on_prediction(PREDS[1], 2, 0.0)
    recovered = Joiner(dict(store), ttl_s=10)
    assert [r.kind for r in recovered.expire(2, 11.0)] == [Kind.EXPIRED_PREDICTION]
    assert recovered.store[PREDS[0].event_id]["state"] == "pending_prediction"


timed_streams = st.lists(
    # (event id, is prediction, arrival second)
    st.tuples(st.sampled_from(sorted(BY_ID)[:12]), st.booleans(), st.integers(0, 60)),
    max_size=50,
)


@settings(max_examples=300, deadline=None)
@given(timed_streams)
def test_ttl_expiry_in_random_arrival_orders(records: list[tuple[str, bool, int]]) -> None:
    ttl = 10.0
    joiner = Joiner({}, ttl_s=ttl)
    kinds: Counter[Kind] = Counter()
    arrivals: dict[tuple[str, bool], list[float]] = {}
    joined_ids: list[str] = []
    for eid, is_pred, t in sorted(records, key=lambda r: r[2]):
        now = float(t)
        for part in range(4):  # the monitor expires a partition whenever a record arrives on it
            kinds.update(r.kind for r in joiner.expire(part, now))
        res = _feed(joiner, BY_ID[eid] if is_pred else LABELS[eid], now)
        kinds[res.kind] += 1
        arrivals.setdefault((eid, is_pred), []).append(now)
        if res.outcome is not None:  # partners arrived less than one TTL apart
            joined_ids.append(eid)
            assert any(now - ttl < p <= now for p in arrivals[(eid, not is_pred)])
    for end in (1e9, 2e9):  # pending entries expire, then their tombstones
        for part in range(4):
            kinds.update(r.kind for r in joiner.expire(part, end))
    assert joiner.store == {}  # everything expires eventually, tombstones included
    # every held (first-arrived) record ends joined by its partner, expired or unmatched
    held, joined = kinds[Kind.HELD], kinds[Kind.JOINED]
    assert held == joined + kinds[Kind.EXPIRED_PREDICTION] + kinds[Kind.UNMATCHED_LABEL]
    # an id seen once as prediction and once as label joins iff they arrived < TTL apart
    for eid in {e for e, _, _ in records}:
        p, lab = arrivals.get((eid, True), []), arrivals.get((eid, False), [])
        if len(p) == 1 and len(lab) == 1:
            assert (eid in joined_ids) == (abs(p[0] - lab[0]) < ttl)
