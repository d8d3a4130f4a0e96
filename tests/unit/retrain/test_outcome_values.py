"""The retrainer reads joined outcomes as JSON or Avro, value by value, and skips garbage
with a rate-limited warning instead of crashing."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.formats.model_values import ModelValues
from streamapp.formats.resolver import SchemaResolver
from streamapp.formats.writers.avro_records import AvroRecords
from streamapp.formats.writers.avro_schemas import avro_schema
from streamapp.metrics.formats import FormatMetrics
from streamapp.retrain.outcome_values import OutcomeValues
from streamapp.retrain.service import RetrainService
from streamapp.schemas import JoinedOutcome
from tests.unit.formats.test_avro_records import _outcome
from tests.unit.monitoring.test_label_format import _Unreachable
from tests.unit.retrain.test_service_waiting import Clock


class _Msg:
    def __init__(self, offset: int, value: bytes | None) -> None:
        self._offset, self._value = offset, value

    def error(self) -> None:
        return None

    def value(self) -> bytes | None:
        return self._value

    def offset(self) -> int:
        return self._offset


class _Consumer:
    def __init__(self, values: list[bytes | None]) -> None:
        self.msgs = [_Msg(i, v) for i, v in enumerate(values)]

    def consume(self, n: int, timeout: float) -> list[_Msg]:
        out, self.msgs = self.msgs[:n], self.msgs[n:]
        return out


def _settings(registry: Path) -> Settings:
    return Settings(kafka={"bootstrap_servers": "127.0.0.1:1"}, model={"registry": str(registry)},
                    schema_registry={"url": "http://127.0.0.1:9"}, log={"repeat_interval_s": 30})


def _registry() -> tuple[MockSchemaRegistryClient, int]:
    client = MockSchemaRegistryClient({"url": "mock://outcomes"})
    sid = client.register_schema("o-value", Schema(
        orjson.dumps(avro_schema(JoinedOutcome)).decode(), "AVRO"))
    return client, sid


def _reader(settings: Settings, client: Any, clock: Clock | None = None) -> OutcomeValues:
    values = OutcomeValues(settings, FormatMetrics(CollectorRegistry()), clock=clock or Clock())
    values.values = ModelValues(JoinedOutcome, SchemaResolver(
        client, FormatMetrics(CollectorRegistry())))
    return values


def test_json_and_avro_outcomes_are_buffered_and_garbage_is_skipped(
    model_registry_dir: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = _settings(model_registry_dir)
    client, sid = _registry()
    service = RetrainService(settings, "127.0.0.1:1")
    service.outcomes = _reader(settings, client)
    items = [_outcome(i) for i in range(4)]
    avro = AvroRecords(JoinedOutcome, sid, FormatMetrics(CollectorRegistry()), "joined_outcome")
    values: list[bytes | None] = [
        items[0].model_dump_json().encode(), *avro.encode(items[1:3]), b"{", None,
        b"\x00\x00\x00\x03\xe8\x02", items[3].model_dump_json().encode()]
    with caplog.at_level(logging.WARNING, logger="streamapp.retrain"):
        service._read_outcomes(_Consumer(values))  # type: ignore[arg-type]
    assert service.buffer.select("agrawal-clf", items[0].event_time, 100) == items
    assert service.outcomes.skipped == {"invalid_json": 2, "unknown_schema": 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "the first skip is logged at once, the rest are counted"
    assert warnings[0].startswith("skipped 1 malformed joined outcomes (invalid_json=1)")


def test_skips_are_logged_at_most_once_per_interval_with_their_counts(
    model_registry_dir: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    reader = _reader(_settings(model_registry_dir), _registry()[0], clock)
    with caplog.at_level(logging.WARNING, logger="streamapp.retrain"):
        for second in range(61):
            clock.now = float(second)
            assert reader.decode(b"not json", second) is None
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" (")[0] for line in lines] == [
        "skipped 1 malformed joined outcomes", "skipped 30 malformed joined outcomes",
        "skipped 30 malformed joined outcomes"]
    assert reader.skipped == {"invalid_json": 61}


def test_an_outage_waits_names_itself_and_a_stop_leaves_the_rest_unread(
    model_registry_dir: Path,
) -> None:
    settings = _settings(model_registry_dir)
    service = RetrainService(settings, "127.0.0.1:1")
    service.outcomes = _reader(settings, _Unreachable())
    stop = threading.Event()
    service.outcomes.stop_with(stop)
    item = _outcome(1)
    consumer = _Consumer([item.model_dump_json().encode(), b"\x00\x00\x00\x00\x07\x02",
                          item.model_dump_json().encode()])
    reader = threading.Thread(target=service._read_outcomes, args=(consumer,))
    reader.start()
    deadline = time.monotonic() + 30
    while service.outcomes.ready_reason() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert "schema registry unreachable" in (service.outcomes.ready_reason() or "")
    stop.set()
    reader.join(30)
    assert not reader.is_alive()
    assert len(service.buffer) == 1 and not service.outcomes.skipped
