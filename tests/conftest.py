"""Shared fixtures: repo paths, a fresh Prometheus registry, a copy of the demo registry,
and the session's Apache Kafka broker (started only when a test asks for it)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streamapp.brokers import ApacheKafka
from streamapp.brokers.schema_registry import ApicurioRegistry
from tests.kafka_support import SCRAM_USERS

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


@pytest.fixture(scope="session")
def broker() -> Iterator[ApacheKafka]:
    """The session's Apache Kafka on 127.0.0.1: PLAINTEXT, SSL and SASL_SSL (SCRAM) listeners."""
    with ApacheKafka(ssl=True, scram_users=SCRAM_USERS) as running:
        yield running


@pytest.fixture(scope="session")
def bootstrap(broker: ApacheKafka) -> str:
    """PLAINTEXT bootstrap servers of the session broker."""
    return broker.bootstrap_servers


@pytest.fixture(scope="session")
def schema_registry() -> Iterator[ApicurioRegistry]:
    """The session's Apicurio Registry (Confluent API) on 127.0.0.1, in memory; started only
    when a test asks for it (scripts/install-apicurio.sh installs it), stopped by its PID."""
    with ApicurioRegistry() as running:
        yield running


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names of one test."""
    return uuid.uuid4().hex[:10]
