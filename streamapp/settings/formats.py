"""Wire formats of the topics (``STREAMAPP_FORMATS__*``) and the Schema Registry that
resolves their schemas (``STREAMAPP_SCHEMA_REGISTRY__*``).

``json`` is streamapp's own envelope (the default, unchanged). ``avro``, ``protobuf``
and ``json_schema`` are the Confluent wire format (magic byte 0, a 4-byte big-endian
schema id, the payload), their schemas held in a Schema Registry (Confluent's, or any
with its API such as Apicurio's ``/apis/ccompat/v7``). See docs/formats.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from streamapp.settings.base import ConfigError, Section

InputFormat = Literal["json", "avro", "protobuf", "json_schema"]
OutputFormat = Literal["json", "avro"]


class SchemaRegistrySettings(Section):
    """Connection to a Schema Registry (Confluent API); secrets are masked everywhere."""

    url: str | None = None
    """Base URL, e.g. ``https://registry:8081`` (Apicurio: ``…/apis/ccompat/v7``);
    needed when any topic's format is not ``json``."""
    basic_auth_user: str | None = None
    """HTTP basic auth user name."""
    basic_auth_password: SecretStr | None = None
    """HTTP basic auth password (masked in every output)."""
    bearer_token: SecretStr | None = None
    """A static bearer token sent as ``Authorization: Bearer …`` (masked)."""
    ssl_ca_location: Path | None = None
    """CA bundle (PEM) that verifies an https registry."""
    timeout_s: float = Field(default=10.0, gt=0)
    """HTTP timeout of one registry request."""
    cache_capacity: int = Field(default=1000, ge=1)
    """Schemas kept by id in memory (a schema id is resolved once, not per event)."""
    retry_max_s: float = Field(default=5.0, gt=0)
    """Longest wait between retries while the registry is unreachable (an outage: the
    worker waits, readiness answers 503, nothing goes to the dead-letter topic)."""

    @model_validator(mode="after")
    def _one_auth(self) -> SchemaRegistrySettings:
        if self.basic_auth_password is not None and self.basic_auth_user is None:
            raise ConfigError(
                "schema_registry.basic_auth_password is set without "
                "schema_registry.basic_auth_user: set both"
            )
        if self.bearer_token is not None and self.basic_auth_user is not None:
            raise ConfigError(
                "schema_registry.bearer_token and schema_registry.basic_auth_user are both "
                "set: choose one way to authenticate"
            )
        return self

    def client_conf(self) -> dict[str, Any]:
        """The ``SchemaRegistryClient`` configuration (secrets in clear: never log it).

        >>> SchemaRegistrySettings(url="http://r:8081").client_conf()["url"]
        'http://r:8081'
        """
        if not self.url:
            raise ConfigError(
                "schema_registry.url is not set: a topic format other than json needs a "
                "Schema Registry (STREAMAPP_SCHEMA_REGISTRY__URL)"
            )
        conf: dict[str, Any] = {
            "url": self.url,
            "timeout": self.timeout_s,
            "cache.capacity": self.cache_capacity,
            "max.retries": 0,
        }
        if self.basic_auth_user is not None:
            password = self.basic_auth_password
            conf["basic.auth.user.info"] = (
                f"{self.basic_auth_user}:{password.get_secret_value() if password else ''}"
            )
        if self.bearer_token is not None:
            conf["bearer.auth.credentials.source"] = "STATIC_TOKEN"
            conf["bearer.auth.token"] = self.bearer_token.get_secret_value()
            conf["bearer.auth.logical.cluster"] = "-"
            conf["bearer.auth.identity.pool.id"] = "-"
        if self.ssl_ca_location is not None:
            conf["ssl.ca.location"] = str(self.ssl_ca_location)
        return conf


class FormatSettings(Section):
    """The format of each topic streamapp reads or writes, and how records map to features."""

    events: InputFormat = "json"
    """Input events: ``json`` (streamapp's envelope), or ``avro`` / ``protobuf`` /
    ``json_schema`` in the Confluent wire format through the Schema Registry."""
    labels: InputFormat = "json"
    """Labels (same choices as ``events``)."""
    predictions: OutputFormat = "json"
    """The predictions topic: JSON, or Avro registered at start under ``<topic>-value``
    (TopicNameStrategy; an unset or NONE subject level becomes BACKWARD; a refusing
    subject stops the worker with exit 2). The prediction log and dead letters stay JSON."""
    joined_outcomes: OutputFormat = "json"
    """The joined-outcomes topic (written by the monitor): JSON, or Avro registered at the
    monitor's start under ``<topic>-value`` as for ``predictions`` (a refusing subject stops
    the monitor with exit 2). The retrainer reads either, value by value."""
    features: dict[str, str] = Field(default_factory=dict)
    """Feature name → dotted path of the record field it is read from (``a.b.c``);
    features not listed are read from the top-level field of the same name."""
    event_id_field: str = "event_id"
    """Record field holding the event id; missing or null: the Kafka key."""
    event_time_field: str = "event_time"
    """Record field holding the event time (RFC 3339 text, a datetime, or epoch
    milliseconds); missing or null: the Kafka record's timestamp."""
    label_id_field: str = "event_id"
    """Label records (``labels`` not ``json``): dotted path of the event id; missing or
    null: the Kafka key."""
    label_field: str = "label"
    """Label records: dotted path of the label value (a class or a number)."""
    label_time_field: str = "label_time"
    """Label records: dotted path of the label time (RFC 3339 text, a datetime, epoch
    milliseconds or a ``google.protobuf.Timestamp``); missing or null: the record timestamp."""

    @property
    def uses_registry(self) -> bool:
        """Whether any topic's format needs the Schema Registry."""
        return any(f != "json" for f in (self.events, self.labels, self.predictions,
                                         self.joined_outcomes))
