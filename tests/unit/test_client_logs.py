from __future__ import annotations

import logging
import time

import pytest
from confluent_kafka import Producer

from streamapp.kafka.client_logs import with_client_logging
from streamapp.kafka.embedded import free_port


def test_broker_down_becomes_a_structured_log_record(caplog: pytest.LogCaptureFixture) -> None:
    """A dead bootstrap address yields a streamapp log record, not only raw stderr lines."""
    port = free_port()  # nothing listens there
    producer = Producer(with_client_logging({"bootstrap.servers": f"127.0.0.1:{port}"}))
    with caplog.at_level(logging.WARNING, logger="streamapp.kafka"):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(
            r.name == "streamapp.kafka.client" for r in caplog.records
        ):
            producer.poll(0.2)
    errors = [r for r in caplog.records if r.name == "streamapp.kafka.client"]
    assert errors, [r.getMessage() for r in caplog.records]
    assert errors[0].kafka_error in {"_TRANSPORT", "_ALL_BROKERS_DOWN"}  # type: ignore[attr-defined]
    assert errors[0].fatal is False  # type: ignore[attr-defined]
