"""``streamapp produce`` and ``streamapp tail`` against the real embedded broker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from typer.testing import CliRunner

from streamapp.cli.app import app
from streamapp.config import Settings

pytestmark = pytest.mark.integration


def _read(bootstrap: str, topic: str, n: int, timeout: float = 30.0) -> list[Message]:
    """Read ``n`` records from the beginning (partitions assigned: no group join)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "io-test"})
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < n and time.monotonic() < deadline:
            out += [m for m in consumer.consume(100, 0.2) if m.error() is None]
    finally:
        consumer.close()
    return out


def _env(settings: Settings) -> dict[str, str]:
    env = {"STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or ""}
    for name, value in settings.topics.model_dump().items():
        env[f"STREAMAPP_TOPICS__{name.upper()}"] = str(value)
    return env


def test_produce_jsonl_and_csv_then_tail(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory()
    runner = CliRunner()
    env = _env(settings)
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"event_id": f"e{i}", "features": {"x": i}}) for i in range(5))
        + "\n\n"
    )
    result = runner.invoke(
        app, ["produce", str(jsonl), "--topic", "events", "--rate", "50"], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"produced 5 records to {settings.topics.events}" in result.output
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("event_id,label,score\ne0,1,0.5\ne1,0,\n")
    result = runner.invoke(app, ["produce", str(csv_file), "-t", settings.topics.labels], env=env)
    assert result.exit_code == 0, result.output

    assert settings.kafka.bootstrap_servers
    events = _read(settings.kafka.bootstrap_servers, settings.topics.events, 5)
    assert sorted(m.key() for m in events) == [f"e{i}".encode() for i in range(5)]
    labels = _read(settings.kafka.bootstrap_servers, settings.topics.labels, 2)
    decoded = sorted((json.loads(m.value()) for m in labels), key=lambda r: r["event_id"])
    assert decoded == [
        {"event_id": "e0", "label": 1, "score": 0.5},
        {"event_id": "e1", "label": 0, "score": None},
    ]

    result = runner.invoke(
        app,
        ["tail", "labels", "--from-beginning", "--max", "2", "--timeout", "20", "--raw"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert any('key=e0 {"event_id":"e0","label":1,"score":0.5}' in line for line in lines)


def test_produce_rejects_a_bad_line_and_needs_a_broker(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ok": 1}\nnot json\n')
    runner = CliRunner()
    result = runner.invoke(app, ["produce", str(bad), "--topic", "events"], env=_env(settings))
    assert result.exit_code == 1
    assert "line 2 is not JSON" in result.output
    result = runner.invoke(
        app, ["tail", "events", "--max", "1"], env={"STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": ""}
    )
    assert result.exit_code == 2
    assert "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS" in result.output
