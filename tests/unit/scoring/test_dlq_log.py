"""DeadLetterWarnings: the first dead letter at once, then one summary per interval."""

from __future__ import annotations

import logging

import pytest

from streamapp.scoring.dlq_log import DeadLetterWarnings


def test_counts_by_reason_are_logged_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    warnings = DeadLetterWarnings("dlq", 30.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "streamapp.scoring.dead_letters"):
        warnings.add({})
        warnings.add({"schema_violation": 2})
        for _ in range(50):
            now[0] += 0.5
            warnings.add({"wrong_type": 1, "schema_violation": 0})
        now[0] += 6
        warnings.add({"missing_feature": 3})
    first, summary = caplog.records
    assert first.dead_letters == {"schema_violation": 2}  # type: ignore[attr-defined]
    assert summary.dead_letters == {  # type: ignore[attr-defined]
        "missing_feature": 3,
        "wrong_type": 50,
    }
    assert "53 events dead-lettered to dlq in the last 31s" in summary.getMessage()
