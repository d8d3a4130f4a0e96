from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.sampling import (
    SALT_CANARY,
    SALT_HOLDOUT,
    SALT_LOG,
    SAMPLING_VERSION,
    assign,
    digests,
    select_many,
    selected,
    unit_interval,
)

N_UNIFORM = 200_000
EDGE_IDS = ["", "a", "a\0", "a\0\0", "\0", "é", "日本語-ид", "x" * 65, "y" * 300, "a" * 8,
            "a" * 8 + "\0" * 8, "2f1c4e0a-9b7d-4c3e-8a61-5d2f0b9e7c14"]


@given(st.text(min_size=1, max_size=64), st.floats(0, 1))
def test_selection_is_monotone_in_rate(event_id: str, rate: float) -> None:
    if selected(event_id, SALT_LOG, rate):
        assert selected(event_id, SALT_LOG, min(1.0, rate + 0.1))


def test_rate_is_respected_statistically() -> None:
    n = 20000
    hits = sum(selected(f"evt-{i}", SALT_LOG, 0.2) for i in range(n))
    assert abs(hits / n - 0.2) < 0.015


def test_salts_are_independent() -> None:
    n = 20000
    both = sum(
        selected(f"e{i}", SALT_LOG, 0.5) and selected(f"e{i}", SALT_HOLDOUT, 0.5) for i in range(n)
    )
    assert abs(both / n - 0.25) < 0.02


def test_same_decision_in_another_process() -> None:
    """Unlike hash(), the decision does not depend on PYTHONHASHSEED."""
    code = "from streamapp.sampling import unit_interval; print(repr(unit_interval('abc', 'log')))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert float(out.stdout) == unit_interval("abc", "log")


def test_assign_matches_selected_and_the_digest_fields() -> None:
    ids = [f"evt-{i}" for i in range(4000)]
    holdout, logged, canary = assign(ids, 0.1, 0.2, 0.3)
    assert SAMPLING_VERSION == 3
    assert holdout.tolist() == [selected(e, SALT_HOLDOUT, 0.1) for e in ids]
    assert logged.tolist() == [
        selected(e, SALT_HOLDOUT, 0.1) or selected(e, SALT_LOG, 0.2) for e in ids
    ]
    assert canary.tolist() == [selected(e, SALT_CANARY, 0.3) for e in ids]
    d = digests(ids).astype(np.uint64)  # fields 0, 1, 2 against the rates' 32-bit thresholds
    by_digest = (d[:, 0] < int(0.1 * 2**32), (d[:, 0] < int(0.1 * 2**32))
                 | (d[:, 1] < int(0.2 * 2**32)), d[:, 2] < int(0.3 * 2**32))
    assert all((a == b).all() for a, b in zip(by_digest, (holdout, logged, canary), strict=True))


def _chi2(values: np.ndarray) -> float:  # type: ignore[type-arg]
    """Chi-square of 32-bit values over 256 equal bins (255 degrees of freedom)."""
    counts = np.bincount((values.astype(np.uint64) >> np.uint64(24)).astype(np.int64),
                         minlength=256)
    expected = len(values) / 256
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("template", ["evt-{}", "{}", "2f1c4e0a-9b7d-4c3e-8a61-{:012d}"])
def test_every_field_is_uniform_and_independent_of_the_others(template: str) -> None:
    """Chi-square over 200k structured ids per field; joint rates are the products."""
    ids = [template.format(i) for i in range(N_UNIFORM)]
    fields = digests(ids).astype(np.uint64)
    other = np.array([unit_interval(e, "retrain-eval") for e in ids[:20000]]) * 2.0**32
    for f in range(4):
        assert _chi2(fields[:, f]) < 360  # P(chi2_255 > 360) ~ 1e-5 for a uniform field
        for g in range(f + 1, 4):
            joint = ((fields[:, f] < 2**31) & (fields[:, g] < 2**30)).mean()
            assert abs(joint - 0.125) < 0.004  # 5 sigma over 200k ids
        joint = ((fields[:20000, f] < 2**31) & (other < 2**31)).mean()
        assert abs(joint - 0.25) < 0.015
    assert _chi2(other.astype(np.uint64)) < 360


def test_text_and_its_utf8_bytes_decide_alike() -> None:
    ids = [f"evt-{i}" for i in range(300)] + EDGE_IDS
    raw = [e.encode() for e in ids]
    assert (digests(ids) == digests(raw)).all()
    by_text, by_bytes = assign(ids, 0.1, 0.2, 0.3), assign(raw, 0.1, 0.2, 0.3)
    assert all((a == b).all() for a, b in zip(by_text, by_bytes, strict=True))


def test_edge_ids_all_differ_and_trailing_zero_bytes_count() -> None:
    rows = {tuple(r) for r in digests(EDGE_IDS).tolist()}
    assert len(rows) == len(EDGE_IDS)


@given(st.lists(st.one_of(st.text(max_size=40), st.text(min_size=200, max_size=400),
                          st.binary(max_size=80).map(lambda b: b.decode("latin-1"))),
                min_size=1, max_size=40))
def test_a_batch_decides_as_each_id_alone(ids: list[str]) -> None:
    """An id's hash does not depend on the batch (width, long ids, small or large batch)."""
    batch = digests(ids)
    for i, e in enumerate(ids):
        assert (digests([e])[0] == batch[i]).all()
    assert select_many(ids, SALT_LOG, 0.5) == [selected(e, SALT_LOG, 0.5) for e in ids]
    holdout, logged, canary = assign(ids, 0.3, 0.4, 0.5)
    assert holdout.tolist() == [selected(e, SALT_HOLDOUT, 0.3) for e in ids]
    assert logged.tolist() == [h or selected(e, SALT_LOG, 0.4)
                               for h, e in zip(holdout.tolist(), ids, strict=True)]
    assert canary.tolist() == [selected(e, SALT_CANARY, 0.5) for e in ids]
    assert [unit_interval(e, SALT_HOLDOUT) for e in ids] == [
        int(f) / 2**32 for f in batch[:, 0]]


def test_the_vectorised_hash_matches_the_one_id_path() -> None:
    """Batches over ``SCALAR`` ids go through numpy; each id alone through Python ints."""
    from streamapp.idhash import SCALAR, HashKey, output_one, outputs

    ids = [f"evt-{i}" for i in range(50)] + EDGE_IDS + ["z" * 129, "w" * 1000, "v" * 257]
    assert len(ids) > SCALAR
    key = HashKey(b"any key")
    raw = [e.encode() for e in ids]
    for which, word in enumerate(outputs(raw, key, 2)):
        assert word.tolist() == [output_one(e, key, which) for e in raw]
    small = raw[:SCALAR]
    assert outputs(small, key, 1)[0].tolist() == outputs(raw, key, 1)[0][:SCALAR].tolist()


def test_golden_values_pin_sampling_version_3() -> None:
    """An accidental change of the hash changes these (and must bump SAMPLING_VERSION)."""
    assert digests(["", "a", "a\0", "evt-123456", "2f1c4e0a-9b7d-4c3e-8a61-5d2f0b9e7c14", "é"]
                   ).tolist() == [
        [3916042616, 1573016136, 3203911604, 2550791184],
        [3270511891, 3783482680, 4111333502, 3296721007],
        [1738264700, 2047193187, 2552852966, 2101267107],
        [1879718003, 1691705043, 3524932759, 832192676],
        [3200935750, 2008342361, 2918577010, 1439919036],
        [216115507, 1558057773, 3950026964, 2153050755],
    ]
    assert digests(["", "a", "a\0", "evt-123456"] * 3)[-4:].tolist() == digests(
        ["", "a", "a\0", "evt-123456"]).tolist()  # 12 ids: the numpy path
    assert select_many(["evt-123456", "a"], SALT_CANARY, 0.85) == [True, False]


def test_other_salts_keep_their_personalised_blake2b() -> None:
    """The retrain split and demo traffic decide as in version 2."""
    for e in ["evt-1", "", "é"]:
        digest = hashlib.blake2b(e.encode(), digest_size=8, person=b"retrain-eval").digest()
        assert unit_interval(e, "retrain-eval") == int.from_bytes(digest, "big") / 2**64
    ids = [f"e{i}" for i in range(500)]
    assert select_many(ids, "retrain-eval", 0.3) == [
        unit_interval(e, "retrain-eval") < 0.3 for e in ids]


def test_empty_batches_and_zero_rates() -> None:
    assert digests([]).shape == (0, 4)
    assert all(len(m) == 0 for m in assign([], 0.5, 0.5, 0.5))
    assert select_many([], "anything", 0.5) == []
    assert not any(m.any() for m in assign(["a", "b"], 0.0, 0.0, 0.0))
