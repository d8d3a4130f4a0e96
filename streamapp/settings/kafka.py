"""Connection to the Kafka cluster (``STREAMAPP_KAFKA__*``) and the checks on it.

``kafka.*`` fields and ``kafka.extra`` both end up in one librdkafka dict; the
security checks run on that dict, so a SASL set-up written entirely in
``kafka.extra`` (as MSK or Confluent Cloud guides show) is validated like one made
of fields. A failed check is a configuration error naming the keys and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from streamapp.settings.base import ConfigError, Section

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
OIDC_REQUIRED = (
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.token.endpoint.url",
)
_FIELD_OF = {
    "sasl.mechanism": "kafka.sasl_mechanism",
    "sasl.username": "kafka.sasl_username",
    "sasl.password": "kafka.sasl_password",
    "sasl.oauthbearer.client.id": "kafka.sasl_oauthbearer_client_id",
    "sasl.oauthbearer.client.secret": "kafka.sasl_oauthbearer_client_secret",
    "sasl.oauthbearer.token.endpoint.url": "kafka.sasl_oauthbearer_token_endpoint_url",
}
TLS_FILES = {
    "ssl.ca.location": ("ssl_ca_location", "the CA bundle (PEM) that signed the brokers"),
    "ssl.certificate.location": ("ssl_certificate_location", "the client certificate (PEM)"),
    "ssl.key.location": ("ssl_key_location", "the client private key (PEM)"),
}
"""librdkafka file properties: the field that renders each, and what the file must hold."""


class KafkaSettings(Section):
    """Connection to a Kafka-compatible cluster; rendered to a librdkafka dict."""

    bootstrap_servers: str | None = None
    """Comma-separated host:port list; unset: worker commands refuse to start (exit 2)
    unless a local broker is asked for (``--local-broker``, ``streamapp demo``)."""
    client_id: str = "streamapp"
    """Client id reported to the broker."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """librdkafka ``security.protocol``."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    """SASL mechanism when the protocol is SASL_*."""
    sasl_username: str | None = None
    """SASL user name."""
    sasl_password: SecretStr | None = None
    """SASL password (masked in every output)."""
    sasl_oauthbearer_method: Literal["default", "oidc"] = "default"
    """OAUTHBEARER tokens: ``oidc`` fetches them from the token endpoint (client credentials
    grant); ``default`` is librdkafka's unsecured JWT (``sasl.oauthbearer.config``, tests)."""
    sasl_oauthbearer_client_id: str | None = None
    """OIDC client id."""
    sasl_oauthbearer_client_secret: SecretStr | None = None
    """OIDC client secret (masked)."""
    sasl_oauthbearer_token_endpoint_url: str | None = None
    """OIDC token endpoint (https URL)."""
    sasl_oauthbearer_scope: str | None = None
    """OIDC scope requested with the token, if the provider needs one."""
    ssl_ca_location: Path | None = None
    """CA bundle used to verify the brokers (checked to exist when the CLI loads settings)."""
    ssl_certificate_location: Path | None = None
    """Client certificate (mutual TLS; checked to exist when the CLI loads settings)."""
    ssl_key_location: Path | None = None
    """Client private key (mutual TLS; checked to exist when the CLI loads settings)."""
    ssl_key_password: SecretStr | None = None
    """Password of the client private key (masked)."""
    ssl_endpoint_identification: bool = True
    """Verify the broker host name against its certificate."""
    extra: dict[str, str] = Field(default_factory=dict)
    """Additional librdkafka properties passed through verbatim."""
    connect_timeout_s: float = Field(default=6.0, gt=0)
    """One-shot commands (topics create, produce, tail, status) give up after this long
    without an answer from the cluster (exit code 3)."""
    unreachable_liveness_s: float = Field(default=120.0, gt=0)
    """Long-running workers fail /health/live after the cluster has been unreachable this
    long, so the orchestrator restarts them."""

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        """Fields and ``extra`` together must be able to authenticate (raises naming them)."""
        problems = security_problems(self.librdkafka("validation:0"))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def librdkafka(self, bootstrap_servers: str | None = None) -> dict[str, Any]:
        """Render to librdkafka properties; ``bootstrap_servers`` overrides the configured one."""
        servers = bootstrap_servers or self.bootstrap_servers
        if not servers:
            raise ConfigError(
                "kafka.bootstrap_servers is not set (STREAMAPP_KAFKA__BOOTSTRAP_SERVERS) "
                "and no local broker was started"
            )
        conf: dict[str, Any] = {
            "bootstrap.servers": servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.sasl_mechanism == "OAUTHBEARER":
            conf["sasl.oauthbearer.method"] = self.sasl_oauthbearer_method
        for key, value in (
            ("sasl.oauthbearer.client.id", self.sasl_oauthbearer_client_id),
            ("sasl.oauthbearer.client.secret", self.sasl_oauthbearer_client_secret),
            ("sasl.oauthbearer.token.endpoint.url", self.sasl_oauthbearer_token_endpoint_url),
            ("sasl.oauthbearer.scope", self.sasl_oauthbearer_scope),
        ):
            if value is not None:
                conf[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
        for key, path in (
            ("ssl.ca.location", self.ssl_ca_location),
            ("ssl.certificate.location", self.ssl_certificate_location),
            ("ssl.key.location", self.ssl_key_location),
        ):
            if path is not None:
                conf[key] = str(path)
        if self.ssl_key_password is not None:
            conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        if self.security_protocol in ("SSL", "SASL_SSL"):
            conf["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_endpoint_identification else "none"
            )
        conf.update(self.extra)
        return conf


def _name(key: str) -> str:
    """A librdkafka key as the setting that renders it (or its ``kafka.extra`` entry).

    >>> _name("sasl.username"), _name("sasl.kerberos.keytab")
    ('kafka.sasl_username', 'kafka.extra["sasl.kerberos.keytab"]')
    """
    return _FIELD_OF.get(key, f'kafka.extra["{key}"]')


def security_problems(conf: Mapping[str, Any]) -> list[str]:
    """What a rendered configuration lacks to authenticate; empty when complete.

    >>> security_problems({"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER",
    ...                    "sasl.oauthbearer.method": "oidc"})  # doctest: +NORMALIZE_WHITESPACE
    ['sasl.mechanism=OAUTHBEARER with sasl.oauthbearer.method=oidc needs
      kafka.sasl_oauthbearer_client_id, kafka.sasl_oauthbearer_client_secret,
      kafka.sasl_oauthbearer_token_endpoint_url']
    """
    protocol = str(conf.get("security.protocol", "PLAINTEXT")).upper()
    if not protocol.startswith("SASL"):
        return []
    mechanism = str(conf.get("sasl.mechanism", conf.get("sasl.mechanisms", ""))).upper()
    if not mechanism:
        return [f"security.protocol={protocol} needs {_name('sasl.mechanism')}"]
    if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        missing = [_name(k) for k in ("sasl.username", "sasl.password") if not conf.get(k)]
        return [f"sasl.mechanism={mechanism} needs {', '.join(missing)}"] if missing else []
    if mechanism == "OAUTHBEARER":
        method = str(conf.get("sasl.oauthbearer.method", "default")).lower()
        if method == "oidc":
            missing = [_name(k) for k in OIDC_REQUIRED if not conf.get(k)]
            if missing:
                return [
                    "sasl.mechanism=OAUTHBEARER with sasl.oauthbearer.method=oidc needs "
                    + ", ".join(missing)
                ]
            url = str(conf["sasl.oauthbearer.token.endpoint.url"])
            if not url.startswith(("https://", "http://")):
                return [f"{_name('sasl.oauthbearer.token.endpoint.url')} is not an http(s) URL"]
        elif method != "default":
            return [f"sasl.oauthbearer.method={method}: expected default or oidc"]
        return []
    if mechanism == "GSSAPI":
        return []
    return [f"sasl.mechanism={mechanism}: expected one of {', '.join(SASL_MECHANISMS)} or GSSAPI"]


def tls_file_problems(kafka: KafkaSettings) -> list[str]:
    """TLS files the connection names that this process cannot read; empty when all can be.

    Checked only when the protocol uses TLS (librdkafka ignores the files otherwise), for
    the fields and for the same keys in ``kafka.extra``. A CA location may be a directory
    of certificates or librdkafka's ``probe``; a certificate or key must be a file.
    """
    conf = kafka.librdkafka("validation:0")
    if not str(conf["security.protocol"]).upper().endswith("SSL"):
        return []
    problems = []
    for key, (field, holds) in TLS_FILES.items():
        value = conf.get(key)
        if not value or (key == "ssl.ca.location" and value == "probe"):
            continue
        where = (
            f'kafka.extra["{key}"]'
            if key in kafka.extra
            else f"kafka.{field} (STREAMAPP_KAFKA__{field.upper()})"
        )
        path = Path(value)
        if not path.exists():
            problem = "does not exist"
        elif path.is_dir() and key != "ssl.ca.location":
            problem = "is a directory, not a file"
        elif not os.access(path, os.R_OK):
            problem = "is not readable by this process"
        else:
            continue
        problems.append(f"{where}: {value} {problem}; point it at {holds}")
    return problems
