"""ConnectionHealth: reachability from librdkafka statistics and errors, for the probes."""

from __future__ import annotations

import json
import logging

import pytest
from confluent_kafka import KafkaError

from streamapp.kafka.health import ConnectionHealth


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _stats(*states: str) -> str:
    return json.dumps({"brokers": {f"b{i}": {"state": s} for i, s in enumerate(states)}})


def test_unreachable_until_a_broker_is_up_then_ready_and_live() -> None:
    clock = Clock()
    health = ConnectionHealth("k:9092", liveness_after_s=30, clock=clock)
    clock.now += 5
    assert "Kafka unreachable at k:9092 for 5s" in (health.ready_reason() or "")
    assert health.live_reason() is None
    health.on_stats(_stats("CONNECT", "UP"))
    assert health.ready_reason() is None and health.live_reason() is None


def test_a_loss_reports_its_reason_and_fails_liveness_after_the_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    health = ConnectionHealth("k:9092", liveness_after_s=30, clock=clock)
    health.on_stats(_stats("UP"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, "streamapp.kafka.health"):
        health.on_error(KafkaError(KafkaError._TRANSPORT, "Connection refused"))
        health.on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
        health.on_stats(_stats("DOWN"))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # one line per loss, not one per callback
    clock.now += 31
    reason = health.ready_reason() or ""
    assert "for 31s: no broker connection is up" in reason
    assert "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS" in reason
    assert "kafka.unreachable_liveness_s" in (health.live_reason() or "")
    with caplog.at_level(logging.WARNING, "streamapp.kafka.health"):
        health.on_stats(_stats("UP"))
    assert "reachable again" in caplog.records[-1].getMessage()
    assert health.live_reason() is None


def test_other_errors_and_bad_statistics_change_nothing() -> None:
    health = ConnectionHealth("k:9092", liveness_after_s=30)
    health.on_stats(_stats("UP"))
    health.on_error(KafkaError(KafkaError._MSG_TIMED_OUT))
    health.on_stats("not json")
    health.on_stats(json.dumps({"brokers": {}}))
    assert health.ready_reason() is None
