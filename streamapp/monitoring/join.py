"""The label join as a pure state machine over a key-value store (a faust Table in production).

Per event id the store holds one entry (a JSON-able dict):

- ``pending_prediction``: the logged prediction waits for its label;
- ``pending_label``: the label arrived first and waits for its prediction;
- ``joined`` / ``expired``: tombstones kept for one more TTL so duplicates and
  late labels are recognised, then removed.

Every entry carries ``part`` (the partition it arrived on) and ``deadline``
(epoch seconds). :meth:`Joiner.expire` is called from the stream of the same
partition, so a faust Table's changelog write lands in the right partition.
Re-processing the same record after a crash finds the entry already advanced
and counts a duplicate: the same event id joins once.
"""

from __future__ import annotations

import heapq
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from streamapp.schemas import JoinedOutcome, Label, LoggedPrediction

Store = MutableMapping[str, dict[str, Any]]


class Kind(StrEnum):
    """What happened to one input record or one expired entry."""

    JOINED = "joined"
    HELD = "held"
    DUPLICATE_PREDICTION = "duplicate_prediction"
    DUPLICATE_LABEL = "duplicate_label"
    LATE_LABEL = "late_label"
    EXPIRED_PREDICTION = "expired_prediction"
    UNMATCHED_LABEL = "unmatched_label"


@dataclass
class JoinResult:
    """What one call did: a joined outcome (at most one) and what to count."""

    kind: Kind
    outcome: JoinedOutcome | None = None
    prediction: LoggedPrediction | None = None
    """HELD / EXPIRED_PREDICTION: the prediction (drift input, per-model count)."""


@dataclass
class Joiner:
    """Joins logged predictions with labels held in ``store`` for ``ttl_s`` seconds."""

    store: Store
    ttl_s: float
    _heaps: dict[int, list[tuple[float, str]]] = field(default_factory=dict)

    def on_prediction(self, pred: LoggedPrediction, part: int, now: float) -> JoinResult:
        """Called for each logged prediction; holds it or joins it with an early label."""
        entry = self.store.get(pred.event_id)
        if entry is not None and entry["state"] != "pending_label":
            return JoinResult(Kind.DUPLICATE_PREDICTION)
        if entry is None:
            self._put(
                pred.event_id, "pending_prediction", part, now, pred=pred.model_dump(mode="json")
            )
            return JoinResult(Kind.HELD, prediction=pred)
        label = Label.model_validate(entry["label"])
        self._put(pred.event_id, "joined", part, now)
        return JoinResult(Kind.JOINED, outcome=joined(pred, label, now), prediction=pred)

    def on_label(self, label: Label, part: int, now: float) -> JoinResult:
        """Called for each label; joins it with its held prediction or holds it."""
        entry = self.store.get(label.event_id)
        if entry is None:
            self._put(
                label.event_id, "pending_label", part, now, label=label.model_dump(mode="json")
            )
            return JoinResult(Kind.HELD)
        state = entry["state"]
        if state == "expired":
            return JoinResult(Kind.LATE_LABEL)
        if state != "pending_prediction":
            return JoinResult(Kind.DUPLICATE_LABEL)
        pred = LoggedPrediction.model_validate(entry["pred"])
        self._put(label.event_id, "joined", part, now)
        return JoinResult(Kind.JOINED, outcome=joined(pred, label, now))

    def expire(self, part: int, now: float) -> list[JoinResult]:
        """Expire entries of ``part`` past their deadline; call from that partition's stream."""
        heap = self._heap(part)
        results: list[JoinResult] = []
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            entry = self.store.get(key)
            if entry is None or entry["part"] != part or entry["deadline"] != deadline:
                continue  # superseded or already gone
            state = entry["state"]
            if state == "pending_prediction":
                pred = LoggedPrediction.model_validate(entry["pred"])
                self._put(key, "expired", part, now)
                results.append(JoinResult(Kind.EXPIRED_PREDICTION, prediction=pred))
            elif state == "pending_label":
                del self.store[key]
                results.append(JoinResult(Kind.UNMATCHED_LABEL))
            else:
                del self.store[key]
        return results

    def forget_partitions(self) -> None:
        """Drop expiry indexes (after a rebalance); they are rebuilt from the store on demand."""
        self._heaps.clear()

    def _heap(self, part: int) -> list[tuple[float, str]]:
        heap = self._heaps.get(part)
        if heap is None:
            heap = [(e["deadline"], k) for k, e in self.store.items() if e.get("part") == part]
            heapq.heapify(heap)
            self._heaps[part] = heap
        return heap

    def _put(self, key: str, state: str, part: int, now: float, **extra: Any) -> None:
        heap = self._heap(part)  # build the index before the write so it is not indexed twice
        deadline = now + self.ttl_s
        self.store[key] = {"state": state, "part": part, "deadline": deadline, **extra}
        heapq.heappush(heap, (deadline, key))


def joined(pred: LoggedPrediction, label: Label, now: float) -> JoinedOutcome:
    """The joined-outcome record of a prediction and its label."""
    return JoinedOutcome(
        event_id=pred.event_id,
        model_name=pred.model_name,
        model_version=pred.model_version,
        variant=pred.variant,
        holdout=pred.holdout,
        features=pred.features,
        scores=pred.scores,
        predicted_label=pred.predicted_label,
        predicted_value=pred.predicted_value,
        label=label.label,
        event_time=pred.event_time,
        scored_time=pred.scored_time,
        label_time=label.label_time,
        label_lag_s=(label.label_time - pred.event_time).total_seconds(),
        joined_at=datetime.fromtimestamp(now, UTC),
    )
