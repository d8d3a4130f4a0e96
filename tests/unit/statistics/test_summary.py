"""Summaries merge exactly: any split of the records and any merge order give the same stats."""

from __future__ import annotations

import itertools
from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.monitoring.dataplane.fold import Folder
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.registry import ModelRegistry
from streamapp.statistics.summary import Stats, Summary
from tests.conftest import MODELS
from tests.unit.monitoring.data import labels_for, predictions, records

PREDS = predictions(120, seed=7) + predictions(60, seed=8, model="friedman-reg", prefix="r")
LOGGED, LABELS = records(PREDS, labels_for(PREDS, 0.8, 9))
FOLDER = Folder(SpecCache(ModelRegistry(MODELS)), 10.0)


def _merged(summaries: list[Summary]) -> dict[tuple[str, str, str, bool, int], Stats]:
    out: dict[tuple[str, str, str, bool, int], Stats] = {}
    for s in summaries:
        for (holdout, bucket), stats in s.groups.items():
            key = (s.model, s.version, s.variant, holdout, bucket)
            out[key] = out[key].merge(stats) if key in out else stats
    return out


WHOLE = _merged(FOLDER.fold(0, 1, LOGGED, list(zip(LOGGED, LABELS, strict=True)), []))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, len(LOGGED)), max_size=6), st.randoms(use_true_random=False))
def test_folding_any_split_in_any_order_equals_folding_everything(
    cuts: list[int], rnd: object
) -> None:
    bounds = [0, *sorted(cuts), len(LOGGED)]
    parts = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        pairs = list(zip(LOGGED[a:b], LABELS[a:b], strict=True))
        parts.extend(FOLDER.fold(i % 3, i, LOGGED[a:b], pairs, []))
    rnd.shuffle(parts)  # type: ignore[attr-defined]
    assert _merged([Summary.from_json(s.to_json()) for s in parts]) == WHOLE


stats_st = st.builds(
    Stats,
    logged=st.integers(0, 10**6),
    joined=st.integers(0, 10**6),
    confusion=st.lists(st.integers(0, 100), min_size=4, max_size=4),
    score_pos=st.dictionaries(st.sampled_from(["0", "5", "999"]), st.integers(0, 9)),
    log_loss=st.integers(0, 2**60),
    sums=st.dictionaries(st.sampled_from(["n", "abs", "sq"]), st.integers(-(2**70), 2**70)),
    hist=st.dictionaries(st.sampled_from(["age", "prediction"]),
                         st.lists(st.integers(0, 9), min_size=3, max_size=3)),
)


@given(stats_st, stats_st, stats_st)
def test_merge_is_commutative_and_associative(a: Stats, b: Stats, c: Stats) -> None:
    assert a.merge(b) == b.merge(a)
    assert a.merge(b).merge(c) == a.merge(b.merge(c))
    assert reduce(Stats.merge, [a, b, c], Stats()) == a.merge(b).merge(c)
    assert Stats.from_dict(a.to_dict()) == a
