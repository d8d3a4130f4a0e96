"""Which labels can join: the scorer logs a prediction when its event id is in the
holdout share or the prediction-log sample (``streamapp.sampling``, a keyed hash of the id).

The monitor applies the same decision to each label's key (the event id)
before decoding it or touching state; labels outside the sample are dropped
and counted. A label without a key is decoded and decided on its event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from typing import TypeVar, cast

from streamapp.config import SamplingSettings
from streamapp.monitoring.dataplane.records import Record
from streamapp.sampling import assign

R = TypeVar("R", bound=Record)


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
        return self.everything or bool(
            assign([event_id], self.holdout_rate, self.log_rate, 0.0)[1][0]
        )

    def by_key(self, records: Sequence[R]) -> tuple[list[R], int, int]:
        """Records whose key is in the sample or who have no key, how many were dropped,
        and how many of the kept have no key (the caller decides those on the event id).

        One hash per key, of the key bytes (no decode), as the scorer decides.
        """
        if self.everything or not records:
            return list(records), 0, 0
        keys = [r.key() for r in records]
        keyless = keys.count(None)
        _h, logged, _c = assign([k or b"" for k in keys] if keyless else cast(list[bytes], keys),
                                self.holdout_rate, self.log_rate, 0.0)
        if keyless:
            kept = [r for r, ok, k in zip(records, logged.tolist(), keys, strict=True)
                    if ok or k is None]
        else:
            kept = list(compress(records, logged.tolist()))
        return kept, len(records) - len(kept), keyless
