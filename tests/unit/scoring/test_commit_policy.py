"""Commit policy: acknowledged prefixes are committed, and re-sent when a commit may be lost."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streamapp.metrics.scoring import ScoringMetrics
from streamapp.scoring.commits import REFRESH_S, AtLeastOnce
from streamapp.scoring.ledger import InFlightLedger
from streamapp.scoring.ports import Fault
from streamapp.testing import InMemoryRecord, InMemorySink, InMemorySource

TP = ("events", 0)


def _policy() -> tuple[AtLeastOnce, InMemorySource, InFlightLedger]:
    source, ledger = InMemorySource([], 1), InFlightLedger()
    policy = AtLeastOnce(source, InMemorySink(), ledger, ScoringMetrics(CollectorRegistry()),
                         Fault(), lambda busy, timeout: not busy(), 0.1, 1.0)
    policy.assigned([TP])
    return policy, source, ledger


def test_only_acknowledged_prefixes_commit_and_lost_async_commits_are_resent() -> None:
    policy, source, ledger = _policy()
    first = ledger.add([InMemoryRecord("events", 0, 0, b"a", b"x")])
    second = ledger.add([InMemoryRecord("events", 0, 1, b"b", b"x")])
    second.seal(0)  # acknowledged, but behind an open batch
    ledger.reap()
    policy.commit()
    assert source.committed == {}
    first.seal(0)
    ledger.reap()
    policy.commit()
    assert source.committed == {TP: 2}
    assert ledger.events == 0  # committed batches stop counting against backpressure
    source.committed.clear()  # an asynchronous commit the broker rejected unseen
    policy.tick(1000.0)  # the periodic refresh re-sends unchanged positions
    assert source.committed == {TP: 2}
    source.committed.clear()
    policy.tick(1000.0 + 1.0)
    assert source.committed == {}  # not yet due
    policy.tick(1000.0 + REFRESH_S)
    assert source.committed == {TP: 2}


def test_revoke_commits_the_revoked_positions_synchronously_and_forgets_them() -> None:
    policy, source, ledger = _policy()
    ledger.add([InMemoryRecord("events", 0, 0, b"a", b"x")]).seal(0)
    ledger.reap()
    policy.commit()
    source.committed.clear()
    assert policy.revoked([TP]) is True
    assert source.committed == {TP: 1}
    assert TP not in policy.owned and not policy.committed


def test_revoke_drain_ends_when_the_revoked_batches_are_acknowledged() -> None:
    policy, source, ledger = _policy()
    ticket = ledger.add([InMemoryRecord("events", 0, 0, b"a", b"x")])
    calls: list[int] = []

    def drain(busy: object, timeout: float) -> bool:
        ticket.seal(0)  # the delivery arrives while draining
        ledger.reap()
        calls.append(1)
        return not busy()  # type: ignore[operator]

    policy.drain = drain
    assert ledger.pending([TP]) == 1
    assert policy.revoked([TP]) is True and calls == [1]
    assert source.committed == {TP: 1}


def test_ledger_segments_per_topic_partition_with_one_or_many_topics() -> None:
    def rec(topic: str, part: int, off: int) -> InMemoryRecord:
        return InMemoryRecord(topic, part, off, b"k", b"v")

    ledger = InFlightLedger()
    one = ledger.add([rec("a", 0, 5), rec("a", 1, 2), rec("a", 0, 6), rec("a", 0, 7)])
    assert one.segments == {("a", 0): (5, 7), ("a", 1): (2, 2)}
    two = ledger.add([rec("a", 0, 8), rec("b", 0, 1), rec("b", 0, 3), rec("a", 0, 9)])
    assert two.segments == {("a", 0): (8, 9), ("b", 0): (1, 3)}
    assert ledger.events == 8 and ledger.bytes == 8
