"""Which labels can join: the scorer logs a prediction when its event id is in the
holdout share or the prediction-log sample (``streamapp.sampling``, BLAKE2b of the id).

The monitor applies the same decision to each label's key (the event id)
before decoding it or touching state; labels outside the sample are dropped
and counted. A label without a key is decoded and decided on its event id.
"""

from __future__ import annotations

from streamapp.config import SamplingSettings
from streamapp.monitoring.records import RawRecord
from streamapp.sampling import SALT_HOLDOUT, SALT_LOG, select_many, selected


class SampleFilter:
    """The scorer's logging decision, as a filter on labels."""

    def __init__(self, sampling: SamplingSettings) -> None:
        self.log_rate = sampling.log_rate
        self.holdout_rate = sampling.holdout_rate
        self.everything = sampling.log_rate >= 1.0 or sampling.holdout_rate >= 1.0

    def keep(self, event_id: str) -> bool:
        """True when the scorer logs the prediction of ``event_id``.

        >>> from streamapp.config import SamplingSettings
        >>> SampleFilter(SamplingSettings(log_rate=1.0)).keep("e-1")
        True
        """
        return self.everything or selected(event_id, SALT_LOG, self.log_rate) or selected(
            event_id, SALT_HOLDOUT, self.holdout_rate
        )

    def by_key(self, records: list[RawRecord]) -> tuple[list[RawRecord], int]:
        """Records whose key is in the sample (or who have no key), and how many were dropped."""
        if self.everything or not records:
            return records, 0
        keyed = [r for r in records if r.key is not None]
        ids = [r.key.decode("utf-8", "replace") for r in keyed if r.key is not None]
        logged = select_many(ids, SALT_LOG, self.log_rate)
        holdout = select_many(ids, SALT_HOLDOUT, self.holdout_rate)
        keep = {id(r) for r, a, b in zip(keyed, logged, holdout, strict=True) if a or b}
        kept = [r for r in records if r.key is None or id(r) in keep]
        return kept, len(records) - len(kept)
