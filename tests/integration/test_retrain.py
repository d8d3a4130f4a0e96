"""The retrainer against the real embedded broker: request → data → promote, dedupe, stale."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streamapp.brokers import free_port
from streamapp.config import Settings
from streamapp.metrics.retrain import RetrainMetrics
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
        self.registry = CollectorRegistry()
        assert settings.kafka.bootstrap_servers
        self.service = RetrainService(
            settings, settings.kafka.bootstrap_servers, RetrainMetrics(self.registry)
        )
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
    sample = running.registry.get_sample_value
    for model, outcome in [
        ("agrawal-clf", "promoted"), ("agrawal-clf", "duplicate"), ("agrawal-clf", "skipped"),
        ("", "invalid_request"),
    ]:
        labels = {"model": model, "outcome": outcome}
        assert sample("streamapp_retrain_decisions_total", labels) == 1, outcome
        assert (sample("streamapp_retrain_last_decision_timestamp_seconds", labels) or 0) > 0
    assert sample("streamapp_retrain_training_seconds_count", {"model": "agrawal-clf"}) == 1
    assert sample("streamapp_retrain_buffered_outcomes") == 800
    assert sample("streamapp_retrain_pending_requests") == 0


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


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def test_cli_retrainer_serves_health_and_metrics(
    settings_factory: Callable[..., Settings], model_registry_dir: Path, tmp_path: Path
) -> None:
    """``streamapp retrain`` as the Deployment runs it: probes and /metrics on http.port."""
    settings = settings_factory()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update({
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": str(settings.kafka.bootstrap_servers),
        "STREAMAPP_MODEL__REGISTRY": str(model_registry_dir),
        "STREAMAPP_HTTP__PORT": str(port),
        "STREAMAPP_LOG__FORMAT": "json",
    })
    for field, value in settings.topics.model_dump().items():
        env[f"STREAMAPP_TOPICS__{field.upper()}"] = str(value)
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "retrain.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "streamapp", "retrain"], env=env,
                                stdout=fh, stderr=fh, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _get(url + "/health/ready")[0] != 200:
            assert proc.poll() is None, f"retrainer exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "retrainer not ready"
            time.sleep(0.1)
        assert _get(url + "/health/live")[0] == 200
        status, metrics = _get(url + "/metrics")
        assert status == 200
        assert "streamapp_retrain_pending_requests 0.0" in metrics
        assert "streamapp_retrain_buffered_outcomes 0.0" in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "retrain http on" in log.read_text()
