from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from streamapp.sampling import SALT_HOLDOUT, SALT_LOG, selected, unit_interval


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


def test_decide_matches_selected_and_fields_are_independent() -> None:
    from streamapp.sampling import SALT_CANARY, SAMPLING_VERSION, decide

    ids = [f"evt-{i}" for i in range(4000)]
    holdout, logged, canary = decide(ids, 0.1, 0.2, 0.3)
    assert SAMPLING_VERSION == 2
    assert holdout.tolist() == [selected(e, SALT_HOLDOUT, 0.1) for e in ids]
    assert logged.tolist() == [
        selected(e, SALT_HOLDOUT, 0.1) or selected(e, SALT_LOG, 0.2) for e in ids
    ]
    assert canary.tolist() == [selected(e, SALT_CANARY, 0.3) for e in ids]
    both = sum(h and c for h, c in zip(holdout.tolist(), canary.tolist(), strict=True))
    assert abs(both / len(ids) - 0.03) < 0.012  # independent fields: P(h and c) = 0.1 * 0.3


def test_digests_are_keyed_blake2b_of_the_utf8_id_whether_text_or_bytes() -> None:
    import hashlib

    import numpy as np

    from streamapp.sampling import decide, digests

    ids = [f"evt-{i}" for i in range(300)] + ["é", ""]
    raw = b"".join(hashlib.blake2b(e.encode(), digest_size=16, key=b"streamapp-sampling-v2")
                   .digest() for e in ids)
    want = np.frombuffer(raw, dtype=">u4").reshape(len(ids), 4)
    assert (digests(ids) == want).all() and (digests([e.encode() for e in ids]) == want).all()
    by_text = decide(ids, 0.1, 0.2, 0.3)
    by_bytes = decide([e.encode() for e in ids], 0.1, 0.2, 0.3)
    assert all((a == b).all() for a, b in zip(by_text, by_bytes, strict=True))
