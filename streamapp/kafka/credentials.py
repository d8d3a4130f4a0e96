"""Tell a rejected credential or certificate apart from an unreachable cluster.

An unreachable broker is an outage: clients retry. A wrong SASL password or an
untrusted broker certificate never heals by retrying, so both become a
:class:`KafkaAuthError` whose message names the settings to fix; commands turn it
into exit code 2 within seconds instead of retrying forever. Once a probe has
decided that (:func:`refused`), the process's client log lines are muted
(:mod:`streamapp.kafka.client_logs`): the line naming the fix stays the last one,
not followed by "brokers are down" from clients that are being torn down.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient

SASL_HINT = (
    "check kafka.sasl_username / kafka.sasl_password / kafka.sasl_mechanism "
    "(STREAMAPP_KAFKA__SASL_USERNAME, STREAMAPP_KAFKA__SASL_PASSWORD, "
    "STREAMAPP_KAFKA__SASL_MECHANISM)"
)
TLS_HINT = (
    "check kafka.ssl_ca_location (STREAMAPP_KAFKA__SSL_CA_LOCATION) and "
    "kafka.ssl_endpoint_identification"
)


_REFUSED = threading.Event()


class KafkaAuthError(RuntimeError):
    """The cluster rejected our credentials or we rejected its certificate (exit code 2)."""


def refuse(failure: KafkaAuthError) -> KafkaAuthError:
    """Record that this process stops on ``failure`` (client log lines go quiet); returns it."""
    _REFUSED.set()
    return failure


def refused() -> bool:
    """True once a credential or certificate check has decided the process cannot go on."""
    return _REFUSED.is_set()


def auth_failure(err: KafkaError) -> KafkaAuthError | None:
    """The configuration error ``err`` reports, or None for any other (retriable) error.

    >>> auth_failure(KafkaError(KafkaError._ALL_BROKERS_DOWN)) is None
    True
    """
    code = err.code()
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        return KafkaAuthError(f"Kafka authentication failed: {err.str()}; {SASL_HINT}")
    if code == KafkaError._SSL or "certificate verify failed" in err.str():
        return KafkaAuthError(f"Kafka TLS handshake failed: {err.str()}; {TLS_HINT}")
    return None


def check_credentials(conf: dict[str, Any], timeout_s: float = 10.0) -> bool:
    """Probe the cluster once at start: True when a metadata request succeeded.

    Raises :class:`KafkaAuthError` as soon as the broker rejects the credentials or
    its certificate fails verification; returns False when ``timeout_s`` passes
    without an answer (unreachable is an outage, not a configuration error).
    """
    return unreachable_reason(conf, timeout_s) is None


def unreachable_reason(conf: dict[str, Any], timeout_s: float = 10.0) -> str | None:
    """None when a metadata request succeeds within ``timeout_s``, else the last client error.

    Raises :class:`KafkaAuthError` like :func:`check_credentials`, after :func:`refuse`
    (the process's client log lines go quiet). librdkafka's own log lines are muted for
    the probe: its errors are collected and returned instead.
    """
    errors: list[KafkaError] = []
    probe: dict[str, Any] = {**conf, "error_cb": errors.append, "log_level": 0}
    admin = AdminClient(probe)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # KafkaException: no answer yet
            admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
            return None
        admin.poll(0)  # serves error_cb
        for err in errors:
            failure = auth_failure(err)
            if failure is not None:
                raise refuse(failure)
    reasons = [e.str() for e in errors if e.code() != KafkaError._ALL_BROKERS_DOWN]
    return (reasons or [e.str() for e in errors] or [f"no answer within {timeout_s:.0f}s"])[-1]
