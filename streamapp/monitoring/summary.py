"""Records on the single-partition summaries topic, from the join agents to the policy agent.

Join agents (one per partition group) emit one summary per first-seen logged
prediction (drift input), per joined outcome (accuracy input) and per expired
prediction (coverage). The policy agent deduplicates on event id, so
re-processing after a crash or one vs. several join workers give the same
global numbers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from streamapp.schemas import JoinedOutcome, LoggedPrediction


class Summary(BaseModel):
    """One monitoring fact for the policy agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["prediction", "outcome", "expired"]
    prediction: LoggedPrediction | None = None
    """kind=prediction / expired: the logged prediction."""
    outcome: JoinedOutcome | None = None
    """kind=outcome: the joined outcome."""

    @property
    def event_id(self) -> str:
        record = self.outcome if self.outcome is not None else self.prediction
        assert record is not None, "a summary carries a prediction or an outcome"
        return record.event_id

    @property
    def model(self) -> tuple[str, str]:
        record = self.outcome if self.outcome is not None else self.prediction
        assert record is not None, "a summary carries a prediction or an outcome"
        return record.model_name, record.model_version
