"""Fixtures shared by the monitoring unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamapp.monitoring.dataplane.store import PartitionStore, rocks_options


@pytest.fixture
def store(tmp_path: Path) -> PartitionStore:
    """An empty join store with an 8 MB memory budget."""
    return PartitionStore(tmp_path / "p0", rocks_options(8))
