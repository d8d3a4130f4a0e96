"""Reliability fixtures: per-test topics on the session's Apache Kafka, spawned processes.

Every process a test spawns is stopped in the fixture's teardown (SIGTERM,
then SIGKILL), whatever the test's outcome. Scenario figures recorded with the
``record`` fixture are printed in the terminal summary and, when
``STREAMAPP_RELIABILITY_REPORT`` names a file, appended to it as JSON lines
(``python -m tests.reliability`` sets it).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from streamapp.kafka.topics import ensure_topics
from streamapp.settings.topics import TopicSettings
from tests.kafka_support import make_topics as shared_topics
from tests.reliability.procs import Proc
from tests.reliability.sizes import Sizes, current

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: fault-injection scenario (tests/reliability; -m 'not reliability')"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/reliability as ``reliability`` and ``integration``."""
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)
            item.add_marker(pytest.mark.integration)


REPORT_ENV = "STREAMAPP_RELIABILITY_REPORT"
_RESULTS: list[dict[str, Any]] = []

Spawn = Callable[..., Proc]
StartScorer = Callable[..., Proc]
Record = Callable[..., None]


@pytest.fixture(scope="session")
def sizes() -> Sizes:
    return current()


def make_topics(unique: str) -> TopicSettings:
    return shared_topics("r", unique)


@pytest.fixture
def rtopics(bootstrap: str, unique: str) -> TopicSettings:
    """A full set of freshly created topics private to this test."""
    topics = make_topics(unique)
    ensure_topics({"bootstrap.servers": bootstrap}, topics.all_topics())
    return topics


def topic_env(topics: TopicSettings) -> dict[str, str]:
    """``STREAMAPP_TOPICS__*`` for ``topics``."""
    return {
        f"STREAMAPP_TOPICS__{name.upper()}": str(value)
        for name, value in topics.model_dump().items()
    }


def scoring_env(
    bootstrap: str, topics: TopicSettings, registry: Path, group: str, **scoring: Any
) -> dict[str, str]:
    """Environment of a ``streamapp score`` process (fast group timeouts, JSON logs)."""
    env = {
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "STREAMAPP_MODEL__REGISTRY": str(registry),
        "STREAMAPP_MODEL__DEVICE": "cpu",
        "STREAMAPP_LOG__FORMAT": "json",
        "STREAMAPP_SCORING__GROUP_ID": group,
        "STREAMAPP_SCORING__SESSION_TIMEOUT_MS": "6000",
        "STREAMAPP_SCORING__HEARTBEAT_INTERVAL_MS": "1000",
        "STREAMAPP_SCORING__COMMIT_INTERVAL_MS": "200",
        **topic_env(topics),
    }
    env.update({f"STREAMAPP_SCORING__{k.upper()}": str(v) for k, v in scoring.items()})
    return env


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """A private copy of the committed demo model registry."""
    target = tmp_path / "models"
    shutil.copytree(Path(__file__).resolve().parents[2] / "models", target)
    return target


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start ``python -m streamapp <args>`` processes; all are stopped at teardown."""
    procs: list[Proc] = []
    log_dir = tmp_path / "logs"
    log_dir.mkdir()

    def start(name: str, args: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(f"{name}-{len(procs)}", args, env, log_dir).start()
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in reversed(procs):
            proc.stop(30)


@pytest.fixture
def start_scorer(
    spawn: Spawn, registry_dir: Path, unique: str, request: pytest.FixtureRequest
) -> StartScorer:
    """Start a ``streamapp score`` process and wait until it is ready; the shared prologue.

    ``start_scorer(**scoring)`` runs on the suite's cluster (``bootstrap``) and this test's
    topics (``rtopics``), in group ``g-<unique>`` (the same on every call: a restart rejoins
    the group), with ``STREAMAPP_SCORING__*`` from ``scoring``. ``bootstrap_servers`` and
    ``topics`` point it at a test's own broker (the suite's is then not started), ``env``
    adds or overrides variables (security settings), ``wait=False`` skips the readiness wait.
    """

    def start(
        *,
        bootstrap_servers: str | None = None,
        topics: TopicSettings | None = None,
        env: dict[str, str] | None = None,
        wait: bool = True,
        **scoring: Any,
    ) -> Proc:
        servers = bootstrap_servers or str(request.getfixturevalue("bootstrap"))
        chosen = topics or request.getfixturevalue("rtopics")
        full = scoring_env(servers, chosen, registry_dir, f"g-{unique}", **scoring)
        proc = spawn("score", ["score"], {**full, **(env or {})})
        if wait:
            proc.wait_ready()
        return proc

    return start


@pytest.fixture
def record(request: pytest.FixtureRequest, sizes: Sizes) -> Record:
    """Record one scenario's figures for the report table."""

    def add(**fields: Any) -> None:
        row = {
            "test": request.node.name,
            "mode": sizes.mode,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, "
            f"{round(psutil.virtual_memory().total / 2**30)} GiB, "
            f"Python {platform.python_version()}",
            **fields,
        }
        _RESULTS.append(row)
        target = os.environ.get(REPORT_ENV)
        if target:
            with open(target, "a") as fh:
                fh.write(json.dumps(row) + "\n")

    return add


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    terminalreporter.section("reliability figures")
    for row in _RESULTS:
        shown = {k: v for k, v in row.items() if k not in ("date", "machine", "mode")}
        terminalreporter.write_line(json.dumps(shown))
