"""Route librdkafka's own logs and errors into streamapp's structured logging.

Without this, a broker outage shows up only as raw ``%3|...|FAIL|`` lines on
stderr. With it, every client error is a JSON log record (code, reason, fatal)
and librdkafka's log lines go through the ``streamapp.kafka.librdkafka`` logger.

Once the process has refused to go on over rejected credentials or a certificate
(:func:`streamapp.kafka.credentials.refused`), both go quiet: what clients report
while they are torn down ("1/1 brokers are down") would otherwise follow, and
bury, the one line that names the setting to fix.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError

from streamapp.kafka.credentials import auth_failure, refused

if TYPE_CHECKING:
    from streamapp.kafka.health import ConnectionHealth

_log = logging.getLogger("streamapp.kafka.client")
_rdkafka = logging.getLogger("streamapp.kafka.librdkafka")
_rdkafka.addFilter(lambda _record: not refused())


def _on_error(err: KafkaError) -> None:
    """librdkafka error callback (runs inside poll/consume on the caller's thread); silent
    once the process refused to go on over its credentials."""
    if refused():
        return
    auth = auth_failure(err)
    level = logging.ERROR if err.fatal() or auth is not None else logging.WARNING
    _log.log(
        level,
        "kafka client error: %s",
        str(auth) if auth is not None else err.str(),
        extra={"kafka_error": err.name(), "fatal": err.fatal(), "retriable": err.retriable()},
    )


def with_client_logging(
    conf: dict[str, Any], health: ConnectionHealth | None = None
) -> dict[str, Any]:
    """``conf`` plus an ``error_cb`` and a Python ``logger``; explicit entries in conf win.

    With ``health``, the client's errors and statistics also feed that tracker.
    Repeats are rate-limited by :class:`streamapp.logs.RepeatFilter`.
    """
    if health is None:
        return {"error_cb": _on_error, "logger": _rdkafka, **conf}

    def on_error(err: KafkaError) -> None:
        health.on_error(err)
        _on_error(err)

    return {"error_cb": on_error, "logger": _rdkafka, **health.client_conf(), **conf}
