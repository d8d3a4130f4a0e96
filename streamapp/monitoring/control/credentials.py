"""The Kafka security settings rendered for faust (aiokafka), from the librdkafka dict.

Built from :meth:`KafkaSettings.librdkafka` (fields and ``kafka.extra`` merged),
so every role honours the same settings: SSL / mutual TLS, SASL PLAIN/SCRAM and
OAUTHBEARER (OIDC or unsecured JWT). Extras with no aiokafka equivalent are
named in one warning (the librdkafka data plane still applies them). A bad CA
or key file raises at build time (``OSError`` / ``ssl.SSLError``), before the
worker connects.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from typing import Any

import faust
from faust.types.auth import CredentialsT

from streamapp.monitoring.control.oauth import OidcTokenProvider, UnsecuredJwtProvider

log = logging.getLogger(__name__)

APPLIED = frozenset(
    {
        "bootstrap.servers", "client.id", "security.protocol", "sasl.mechanism",
        "sasl.mechanisms", "sasl.username", "sasl.password", "ssl.ca.location",
        "ssl.certificate.location", "ssl.key.location", "ssl.key.password",
        "ssl.endpoint.identification.algorithm", "enable.ssl.certificate.verification",
        "sasl.oauthbearer.method", "sasl.oauthbearer.client.id",
        "sasl.oauthbearer.client.secret", "sasl.oauthbearer.token.endpoint.url",
        "sasl.oauthbearer.scope", "sasl.oauthbearer.config",
    }
)
"""librdkafka properties the faust client honours."""


def ssl_context(conf: Mapping[str, Any]) -> ssl.SSLContext:
    """A verifying client TLS context: the configured CA (else the system's), optional mTLS."""
    cafile = conf.get("ssl.ca.location")
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert = conf.get("ssl.certificate.location")
    if cert:
        key = conf.get("ssl.key.location")
        context.load_cert_chain(str(cert), str(key) if key else None,
                                conf.get("ssl.key.password"))
    if str(conf.get("ssl.endpoint.identification.algorithm", "https")).lower() == "none":
        context.check_hostname = False
    if str(conf.get("enable.ssl.certificate.verification", "true")).lower() == "false":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def faust_credentials(conf: Mapping[str, Any]) -> CredentialsT | None:
    """faust ``broker_credentials`` for a rendered librdkafka dict; None for PLAINTEXT."""
    ignored = sorted(k for k in conf if k not in APPLIED and k.startswith(("ssl.", "sasl.")))
    if ignored:
        log.warning("Kafka settings the monitor's control plane (aiokafka) cannot apply: %s",
                    ", ".join(ignored), extra={"ignored": ignored})
    protocol = str(conf.get("security.protocol", "PLAINTEXT")).upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(conf) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        assert context is not None
        return faust.SSLCredentials(context)
    mechanism = str(conf.get("sasl.mechanism", conf.get("sasl.mechanisms", "PLAIN"))).upper()
    if mechanism == "OAUTHBEARER":
        return faust.OAuthCredentials(oauth_cb=_token_provider(conf), ssl_context=context)
    return faust.SASLCredentials(
        username=conf.get("sasl.username"),
        password=conf.get("sasl.password"),
        mechanism=mechanism,
        ssl_context=context,
    )


def _token_provider(conf: Mapping[str, Any]) -> OidcTokenProvider | UnsecuredJwtProvider:
    if str(conf.get("sasl.oauthbearer.method", "default")).lower() == "oidc":
        return OidcTokenProvider(
            str(conf["sasl.oauthbearer.token.endpoint.url"]),
            str(conf["sasl.oauthbearer.client.id"]),
            str(conf["sasl.oauthbearer.client.secret"]),
            conf.get("sasl.oauthbearer.scope"),
        )
    return UnsecuredJwtProvider(str(conf.get("sasl.oauthbearer.config", "")))
