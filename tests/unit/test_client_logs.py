from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer

from streamapp.brokers import free_port
from streamapp.kafka import client_logs, credentials
from streamapp.kafka.client_logs import with_client_logging


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


@pytest.fixture
def refusal() -> Iterator[None]:
    """Undo the process-wide refusal a test records."""
    yield
    credentials._REFUSED.clear()


class _RejectingAdmin:
    """An AdminClient whose broker rejects the SASL password on the first poll."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.error_cb = conf["error_cb"]

    def list_topics(self, timeout: float) -> None:
        raise RuntimeError("no answer yet")

    def poll(self, timeout: float) -> None:
        self.error_cb(KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error"))


def test_after_a_refused_password_client_lines_go_quiet(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, refusal: None
) -> None:
    """The line naming the fix is the last one: clients torn down after the credentials
    were refused ("1/1 brokers are down") log nothing more."""
    down = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
    librdkafka = logging.getLogger("streamapp.kafka.librdkafka")
    with caplog.at_level(logging.INFO, logger="streamapp.kafka"):
        client_logs._on_error(down)
        librdkafka.warning("FAIL [thrd:sasl_ssl://127.0.0.1:9093/bootstrap]: Disconnected")
        assert len(caplog.records) == 2 and not credentials.refused()
        monkeypatch.setattr(credentials, "AdminClient", _RejectingAdmin)
        with pytest.raises(credentials.KafkaAuthError, match="STREAMAPP_KAFKA__SASL_PASSWORD"):
            credentials.unreachable_reason({"bootstrap.servers": "127.0.0.1:1"}, timeout_s=5)
        assert credentials.refused()
        caplog.clear()
        client_logs._on_error(down)
        client_logs._on_error(KafkaError(KafkaError._AUTHENTICATION, "again"))
        librdkafka.warning("FAIL [thrd:sasl_ssl://127.0.0.1:9093/bootstrap]: Disconnected")
    assert caplog.records == []
