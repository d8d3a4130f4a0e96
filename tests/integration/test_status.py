"""``streamapp status`` and ``streamapp incidents`` against the real broker and a real worker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from streamapp.cli import app
from streamapp.config import Settings
from streamapp.scoring.worker import run_worker
from tests.integration.conftest import consume_n, produce_all
from tests.scoring_support import good_events

pytestmark = pytest.mark.integration

FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "commit_interval_ms": 100,
        "processes": 1}


def _env(settings: Settings) -> dict[str, str]:
    env = {"STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
           "STREAMAPP_SCORING__GROUP_ID": settings.scoring.group_id,
           "STREAMAPP_LOG__FORMAT": "json"}
    for name, value in settings.topics.model_dump().items():
        env[f"STREAMAPP_TOPICS__{name.upper()}"] = str(value)
    return env


def _status(settings: Settings) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["status", "--json"], env=_env(settings))
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))  # stderr: logs of the in-process worker thread


def _until(read: Callable[[], dict[str, Any]], ok: Callable[[dict[str, Any]], bool],
           timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    report = read()
    while not ok(report) and time.monotonic() < deadline:
        time.sleep(0.5)  # heartbeats arrive every 0.5 s: poll the report, not a sleep-for-effect
        report = read()
    assert ok(report), json.dumps(report, indent=2)
    return report


@contextmanager
def _worker(settings: Settings) -> Iterator[None]:
    stop = threading.Event()
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(run_worker(settings, stop, prometheus=CollectorRegistry()))
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(60)
    assert codes == [0]


def test_status_shows_the_serving_worker_its_throughput_and_the_group_lag(
    settings_factory: Callable[..., Settings], model_registry_dir: Path, unique: str
) -> None:
    settings = settings_factory(
        scoring={**FAST, "group_id": f"g-{unique}"},
        model={"registry": str(model_registry_dir)},
        status={"heartbeat_interval_s": 0.5},
    )
    bootstrap, topics = settings.kafka.bootstrap_servers or "", settings.topics
    events = good_events(200, prefix=f"st{unique}-")
    with _worker(settings):
        produce_all(bootstrap, topics.events, events)
        consume_n(bootstrap, topics.predictions, len(events))

        def served_all(report: dict[str, Any]) -> bool:
            workers = [w for w in report["workers"] if w["role"] == "score"]
            lag = [r for r in report["lag"] if r["group"] == f"g-{unique}"]
            # not stale: on a loaded machine a heartbeat can be late (stale after 3 intervals)
            return (len(workers) == 1 and workers[0].get("consumed_total") == len(events)
                    and not workers[0]["stale"]
                    and bool(lag) and sum(r["lag"] or 0 for r in lag) == 0
                    and sum(r["end"] for r in lag) == len(events))

        report = _until(lambda: _status(settings), served_all)
        (worker,) = [w for w in report["workers"] if w["role"] == "score"]
        assert (worker["model"], worker["version"], worker["stale"]) == ("agrawal-clf", "1", False)
        assert worker["runtime"] and worker["device"] == "cpu"
        assert worker["dead_letter_total"] == 0
        (model,) = report["models"]
        assert (model["model"], model["version"], model["variant"]) == ("agrawal-clf", "1",
                                                                          "primary")
        assert model["workers"] == [worker["worker"]]
        assert {r["partition"] for r in report["lag"] if r["group"] == f"g-{unique}"} == set(
            range(topics.partitions)
        )
        table = CliRunner().invoke(app, ["status"], env=_env(settings))
        assert table.exit_code == 0 and worker["worker"] in table.output
    # a clean stop leaves a tombstone: the worker is gone, not stale
    report = _until(lambda: _status(settings),
                    lambda r: not [w for w in r["workers"] if w["role"] == "score"])
    assert report["models"] == []


def test_incident_commands_reach_the_summaries_topic_keyed_by_version(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    bootstrap = settings.kafka.bootstrap_servers or ""
    for command in ("ack", "rebaseline"):
        result = CliRunner().invoke(
            app, ["incidents", command, "agrawal-clf", "1", "--note", "expected shift"],
            env=_env(settings),
        )
        assert result.exit_code == 0, result.output
    msgs = consume_n(bootstrap, settings.topics.monitoring_summaries, 2)
    assert {m.key() for m in msgs} == {b"agrawal-clf/1"}
    assert sorted(json.loads(m.value())["command"] for m in msgs) == ["ack", "rebaseline"]
