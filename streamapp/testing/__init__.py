"""What users need to test their own code against streamapp's contracts.

``check_processor`` and ``check_scoring_model`` are conformance checks in the
spirit of river's ``check_estimator`` (defined with the runtime contract in
``streamapp.runtime.checks``): run them in your own test suite; ``streamapp
models validate`` runs them too. ``InMemorySource`` / ``InMemorySink`` run a
scoring worker over Python lists (``streamapp.testing.fakes``);
``InMemoryCluster`` and ``join_io`` run the monitor's join data plane over
in-memory topics, with ``ABORT()`` / ``EOF()`` markers for crash-and-replay
tests (``streamapp.testing.cluster``).
"""

from streamapp.runtime.checks import (
    ConformanceError,
    check_processor,
    check_scoring_model,
    check_tensor_processor,
)
from streamapp.testing.cluster import ABORT, EOF, Aborted, InMemoryCluster, join_io
from streamapp.testing.fakes import InMemoryRecord, InMemorySink, InMemorySource

__all__ = [
    "ABORT",
    "EOF",
    "Aborted",
    "ConformanceError",
    "InMemoryCluster",
    "InMemoryRecord",
    "InMemorySink",
    "InMemorySource",
    "check_processor",
    "check_scoring_model",
    "check_tensor_processor",
    "join_io",
]
