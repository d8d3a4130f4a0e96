"""What users need to test their own code against streamapp's contracts.

``check_processor`` and ``check_scoring_model`` are conformance checks in the
spirit of river's ``check_estimator``: run them in your own test suite; ``streamapp
models validate`` runs them too. ``InMemorySource`` / ``InMemorySink`` run a
scoring worker over Python lists (``streamapp.testing.fakes``).
"""

from streamapp.runtime.checks import ConformanceError, check_processor, check_scoring_model
from streamapp.testing.fakes import InMemoryRecord, InMemorySink, InMemorySource

__all__ = [
    "ConformanceError",
    "InMemoryRecord",
    "InMemorySink",
    "InMemorySource",
    "check_processor",
    "check_scoring_model",
]
