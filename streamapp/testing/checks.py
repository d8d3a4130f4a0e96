"""The conformance checks, re-exported for users' test suites.

They live with the contract they check, in :mod:`streamapp.runtime.checks`
(the loader and registration run them too); this module keeps the public
``streamapp.testing.checks`` path working.
"""

from streamapp.runtime.checks import ConformanceError, check_processor, check_scoring_model

__all__ = ["ConformanceError", "check_processor", "check_scoring_model"]
