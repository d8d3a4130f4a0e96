"""The doctests of the demo's pure helpers (verdict line, judge, options, status line)."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from streamapp.demo import loop, prepare, result, view


@pytest.mark.parametrize("module", [loop, prepare, result, view], ids=lambda m: m.__name__)
def test_doctests(module: ModuleType) -> None:
    outcome = doctest.testmod(module)
    assert outcome.failed == 0 and outcome.attempted > 0
