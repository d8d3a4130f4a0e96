"""Route librdkafka's own logs and errors into streamapp's structured logging.

Without this, a broker outage shows up only as raw ``%3|...|FAIL|`` lines on
stderr. With it, every client error is a JSON log record (code, reason, fatal)
and librdkafka's log lines go through the ``streamapp.kafka.librdkafka`` logger.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError

from streamapp.kafka.credentials import auth_failure

_log = logging.getLogger("streamapp.kafka.client")
_rdkafka = logging.getLogger("streamapp.kafka.librdkafka")


def _on_error(err: KafkaError) -> None:
    """librdkafka error callback (runs inside poll/consume on the caller's thread)."""
    auth = auth_failure(err)
    level = logging.ERROR if err.fatal() or auth is not None else logging.WARNING
    _log.log(
        level,
        "kafka client error: %s",
        str(auth) if auth is not None else err.str(),
        extra={"kafka_error": err.name(), "fatal": err.fatal(), "retriable": err.retriable()},
    )


def with_client_logging(conf: dict[str, Any]) -> dict[str, Any]:
    """``conf`` plus an ``error_cb`` and a Python ``logger``; explicit entries in conf win."""
    return {"error_cb": _on_error, "logger": _rdkafka, **conf}
