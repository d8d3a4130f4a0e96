"""Tickets and the contiguous offset tracker (no broker)."""

from __future__ import annotations

from streamapp.kafka.commit import OffsetTracker, Ticket


def _ticket(done: list[Ticket], segs: dict[tuple[str, int], tuple[int, int]]) -> Ticket:
    return Ticket(segs, sum(b - a + 1 for a, b in segs.values()), 0, done.append)


def test_commit_position_only_over_acknowledged_prefix() -> None:
    done: list[Ticket] = []
    tracker = OffsetTracker()
    t1 = _ticket(done, {("t", 0): (0, 9), ("t", 1): (0, 4)})
    t2 = _ticket(done, {("t", 0): (10, 19)})
    tracker.add(t1)
    tracker.add(t2)
    t2.seal(0)  # second batch had no outputs pending: done first
    assert done == [t2]
    assert tracker.advance() == {}  # t1 still in flight blocks partition 0
    t1.seal(2)
    t1.delivered(None, None)
    assert tracker.advance() == {}
    t1.delivered("boom", "msg")  # a failed delivery does not count
    assert t1.failed == ["msg"] and not t1.done
    t1.delivered(None, None)
    assert done == [t2, t1]
    assert tracker.advance() == {("t", 0): 20, ("t", 1): 5}
    assert tracker.pending([("t", 0)]) == 0


def test_acks_before_seal_notify_once() -> None:
    done: list[Ticket] = []
    t = _ticket(done, {("t", 0): (0, 0)})
    t.delivered(None, None)
    t.seal(1)
    t.delivered(None, None)
    assert done == [t]


def test_forget_drops_partition_state() -> None:
    tracker = OffsetTracker()
    t = _ticket([], {("t", 3): (5, 6)})
    tracker.add(t)
    tracker.forget([("t", 3)])
    assert tracker.pending([("t", 3)]) == 0 and tracker.position(("t", 3)) is None
