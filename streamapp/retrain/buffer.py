"""A bounded, in-memory window of the most recent joined outcomes (the retrainer's data)."""

from __future__ import annotations

from collections import deque
from datetime import datetime

from streamapp.retrain.dataset import recent
from streamapp.schemas import JoinedOutcome


class OutcomeBuffer:
    """Keeps the newest ``capacity`` outcomes of every model; older ones fall off."""

    def __init__(self, capacity: int) -> None:
        self._items: deque[JoinedOutcome] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, outcome: JoinedOutcome) -> None:
        """Append one outcome (called for every record read from the joined-outcomes topic)."""
        self._items.append(outcome)

    def count_since(self, model: str, since: datetime) -> int:
        """Outcomes of ``model`` with ``event_time >= since`` (duplicates counted once)."""
        return len(
            {o.event_id for o in self._items if o.model_name == model and o.event_time >= since}
        )

    def select(self, model: str, since: datetime, limit: int) -> list[JoinedOutcome]:
        """The newest ``limit`` distinct outcomes of ``model`` since ``since``."""
        return recent(self._items, model, since, limit)
