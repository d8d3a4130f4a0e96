"""Model leases: a swapped-out model is closed once no batch scored with it is still running.

The worker takes a lease on the serving :class:`~streamapp.scoring.reload.Slots`
before it hands a batch to the scorer pool and returns it when the batch has
been routed; the watcher retires a model when a hot swap (or a cleared
candidate pointer) replaces it. :meth:`ScoringModel.close` then runs exactly
once, in whichever thread returns the last lease (or in the watcher thread when
no batch holds one), so device memory of old versions is released without ever
closing a model under a running batch.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from streamapp.runtime.base import ScoringModel

log = logging.getLogger(__name__)


class ModelLeases:
    """Counts running batches per model; closes retired models when their count reaches 0."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: Counter[int] = Counter()
        self._retired: dict[int, ScoringModel] = {}

    def acquire(self, *models: ScoringModel | None) -> None:
        """A batch is about to be scored with ``models`` (main loop)."""
        with self._lock:
            for m in models:
                if m is not None:
                    self._users[id(m)] += 1

    def release(self, *models: ScoringModel | None) -> None:
        """The batch is done with ``models`` (scorer thread); closes retired ones now unused."""
        with self._lock:
            for m in models:
                if m is not None:
                    self._users[id(m)] -= 1
            idle = [m for key, m in self._retired.items() if self._users[key] <= 0]
            for m in idle:
                del self._retired[id(m)]
                self._users.pop(id(m), None)
        _close(idle)

    def retire(self, model: ScoringModel) -> None:
        """``model`` no longer serves (watcher thread): close it now or after its last batch."""
        with self._lock:
            if self._users[id(model)] > 0:
                self._retired[id(model)] = model
                return
            self._users.pop(id(model), None)
        _close([model])

    @property
    def retired(self) -> int:
        """How many swapped-out models still wait for their last batch."""
        return len(self._retired)


def _close(models: list[ScoringModel]) -> None:
    """``close`` each model; a failing close is logged, never raised into a scorer thread."""
    for m in models:
        try:
            m.close()
        except Exception:
            log.exception("closing model %s/%s failed", m.name, m.version)
