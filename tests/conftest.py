"""Shared fixtures: repo paths, a fresh Prometheus registry, a copy of the demo registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"


@pytest.fixture
def metrics_registry() -> CollectorRegistry:
    """A fresh Prometheus registry per test."""
    return CollectorRegistry()


@pytest.fixture
def model_registry_dir(tmp_path: Path) -> Path:
    """A private, writable copy of the committed demo model registry."""
    target = tmp_path / "models"
    shutil.copytree(MODELS, target)
    return target
