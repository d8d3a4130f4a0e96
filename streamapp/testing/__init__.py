"""What users need to test their own code against streamapp's contracts.

``check_processor`` and ``check_scoring_model`` are conformance checks in the
spirit of river's ``check_estimator``: run them in your own test suite; ``streamapp
models validate`` runs them too.
"""

from streamapp.testing.checks import ConformanceError, check_processor, check_scoring_model

__all__ = ["ConformanceError", "check_processor", "check_scoring_model"]
