"""The retrainer against the real embedded broker: request → data → promote, dedupe, stale."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamapp.config import Settings
from streamapp.registry.registry import ModelRegistry
from streamapp.retrain.events import EVENT_KEY
from streamapp.retrain.service import RetrainService
from streamapp.schemas import RetrainReason, RetrainRequest
from tests.integration.conftest import produce_all
from tests.unit.retrain.outcomes import make_outcomes

pytestmark = pytest.mark.integration


def _request(key: str, version: str = "1", at: datetime | None = None) -> RetrainRequest:
    return RetrainRequest(
        model_name="agrawal-clf",
        model_version=version,
        reason=RetrainReason.ACCURACY_DROP,
        metric="accuracy",
        observed=0.5,
        threshold=0.95,
        window="count:500",
        idempotency_key=key,
        requested_at=at or datetime.now(UTC),
    )


class Running(logging.Handler):
    """A RetrainService in a thread, with the events it logs recorded (its thread's only)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(logging.INFO)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.stop = threading.Event()
        assert settings.kafka.bootstrap_servers
        self.service = RetrainService(settings, settings.kafka.bootstrap_servers)
        self.thread = threading.Thread(
            target=self.service.run, args=(self.stop,), daemon=True, name=f"retrainer-{id(self)}"
        )
        logging.getLogger("streamapp.retrain").addHandler(self)
        self.thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName == self.thread.name and hasattr(record, EVENT_KEY):
            self.events.append((getattr(record, EVENT_KEY), record.__dict__["retrain"]))

    def close(self) -> None:
        logging.getLogger("streamapp.retrain").removeHandler(self)
        super().close()

    def wait_for(self, kind: str, count: int = 1, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [f for k, f in self.events if k == kind]
            if len(found) >= count:
                return found
            if not self.thread.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"no {count}x {kind!r}; events: {[k for k, _ in self.events]}")


@pytest.fixture
def retrainer(
    settings_factory: Callable[..., Settings],
    model_registry_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Callable[[], Running]]:
    caplog.set_level(logging.INFO, logger="streamapp.retrain")  # the events are INFO records
    started: list[Running] = []
    settings = settings_factory(
        model={"registry": str(model_registry_dir)},
        retrain={"min_samples": 300, "min_eval_samples": 50, "epochs": 20, "max_wait_s": 60},
    )

    def start() -> Running:
        running = Running(settings)
        started.append(running)
        running.wait_for("ready", timeout=30)
        return running

    try:
        yield start
    finally:
        for running in started:
            running.stop.set()
            running.thread.join(30)
            running.close()


def _produce(settings: Settings, topic: str, records: list[tuple[str, bytes]]) -> None:
    assert settings.kafka.bootstrap_servers
    produce_all(settings.kafka.bootstrap_servers, topic, [(k.encode(), v) for k, v in records])


def test_request_waits_for_data_then_promotes_and_dedupes(
    retrainer: Callable[[], Running], model_registry_dir: Path
) -> None:
    running = retrainer()
    settings = running.service.settings
    topics = settings.topics
    asked = datetime.now(UTC)
    request = _request("agrawal-clf/1/incident-1", at=asked)
    old = make_outcomes(200, drifted=False, start=asked - timedelta(hours=1))
    _produce(
        settings, topics.joined_outcomes, [(o.event_id, o.model_dump_json().encode()) for o in old]
    )
    _produce(settings, topics.retrain_requests, [("k", request.model_dump_json().encode())])
    collecting = running.wait_for("collecting")
    assert collecting[0]["need"] == 300 and collecting[0]["have"] == 0  # old data does not count
    new = make_outcomes(600, drifted=True, seed=9, start=asked + timedelta(seconds=1))
    _produce(
        settings, topics.joined_outcomes, [(o.event_id, o.model_dump_json().encode()) for o in new]
    )
    promoted = running.wait_for("promoted")[0]
    assert promoted["new_version"] == "2" and promoted["candidate"] > promoted["serving"]
    assert ModelRegistry(model_registry_dir).pointer("agrawal-clf") == "2"

    _produce(settings, topics.retrain_requests, [("k", request.model_dump_json().encode())])
    running.wait_for("duplicate")
    stale = _request("agrawal-clf/1/incident-2")
    _produce(settings, topics.retrain_requests, [("k", stale.model_dump_json().encode())])
    skipped = running.wait_for("skipped")[0]
    assert "stale" in skipped["why"]
    _produce(settings, topics.retrain_requests, [("k", b"{not json")])
    running.wait_for("invalid_request")
    assert ModelRegistry(model_registry_dir).versions("agrawal-clf") == ["1", "2"]


def test_handled_requests_survive_a_restart(retrainer: Callable[[], Running]) -> None:
    first = retrainer()
    settings = first.service.settings
    request = _request("agrawal-clf/1/incident-9")
    new = make_outcomes(
        400, drifted=True, seed=4, start=request.requested_at + timedelta(seconds=1)
    )
    _produce(
        settings,
        settings.topics.joined_outcomes,
        [(o.event_id, o.model_dump_json().encode()) for o in new],
    )
    _produce(
        settings, settings.topics.retrain_requests, [("k", request.model_dump_json().encode())]
    )
    first.wait_for("promoted")
    first.stop.set()
    first.thread.join(30)
    # Re-deliver the same incident to a fresh retrainer (e.g. after a crash before the commit).
    _produce(
        settings, settings.topics.retrain_requests, [("k", request.model_dump_json().encode())]
    )
    second = retrainer()
    second.wait_for("duplicate")
    assert not [k for k, _ in second.events if k in ("promoted", "rejected", "training")]
