"""Moved to :mod:`streamapp.statistics.profile` (registration, training and the monitor share it).

This module keeps the old import path working; new code imports from
``streamapp.statistics.profile``.
"""

from streamapp.statistics.profile import (
    MIN_PROFILE_ROWS,
    N_BINS,
    between_values,
    build_profile,
    categorical_profile,
    numeric_profile,
    profile_rows,
)

__all__ = [
    "MIN_PROFILE_ROWS",
    "N_BINS",
    "between_values",
    "build_profile",
    "categorical_profile",
    "numeric_profile",
    "profile_rows",
]
