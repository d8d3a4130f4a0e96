"""``kafka.*`` security settings rendered for faust (aiokafka), mirroring ``librdkafka()``.

Used by :func:`streamapp.monitoring.app.build_app`; a bad CA or key file raises
at build time (``OSError`` / ``ssl.SSLError``), before the worker connects.
"""

from __future__ import annotations

import ssl

import faust
from faust.types.auth import CredentialsT

from streamapp.config import KafkaSettings


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """A verifying client TLS context: the configured CA (else the system's), optional mTLS."""
    cafile = str(kafka.ssl_ca_location) if kafka.ssl_ca_location is not None else None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if kafka.ssl_certificate_location is not None:
        password = kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
        key = str(kafka.ssl_key_location) if kafka.ssl_key_location is not None else None
        context.load_cert_chain(str(kafka.ssl_certificate_location), key, password)
    if not kafka.ssl_endpoint_identification:
        context.check_hostname = False
    return context


def faust_credentials(kafka: KafkaSettings) -> CredentialsT | None:
    """faust ``broker_credentials`` for the configured protocol; None for PLAINTEXT."""
    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(kafka) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        assert context is not None
        return faust.SSLCredentials(context)
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=password,
        mechanism=kafka.sasl_mechanism or "PLAIN",
        ssl_context=context,
    )
