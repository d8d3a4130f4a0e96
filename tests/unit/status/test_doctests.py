"""The doctests of the modules added for operability (pure helpers with examples)."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from streamapp import http, logs
from streamapp.cli import output
from streamapp.kafka import security
from streamapp.status import heartbeat


@pytest.mark.parametrize("module", [http, logs, output, security, heartbeat],
                         ids=lambda m: m.__name__)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
