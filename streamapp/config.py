"""The one settings object: environment (``STREAMAPP_``), an optional TOML file, defaults.

Precedence, highest first: explicit overrides passed in code, ``STREAMAPP_*``
environment variables (nested with ``__``, e.g. ``STREAMAPP_KAFKA__BOOTSTRAP_SERVERS``),
the TOML file given by ``--config`` or ``STREAMAPP_CONFIG``, then the defaults of each
section. Unknown or invalid settings raise :class:`ConfigError` naming the setting and
the fix (for a misspelt name, the closest real one).

This module only composes: each section is a class of its own under
:mod:`streamapp.settings`, and nothing here imports product code. The sections are
re-exported for the importers that still name them from here.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streamapp.settings.base import ConfigError
from streamapp.settings.broker import BrokerSettings
from streamapp.settings.formats import FormatSettings, SchemaRegistrySettings
from streamapp.settings.http import HttpSettings
from streamapp.settings.kafka import KafkaSettings, tls_file_problems
from streamapp.settings.log import LogSettings
from streamapp.settings.masking import Redactor, secret_values
from streamapp.settings.model import ModelSettings
from streamapp.settings.monitoring import MonitoringSettings
from streamapp.settings.retrain import RetrainSettings
from streamapp.settings.sampling import SamplingSettings
from streamapp.settings.scoring import ScoringSettings
from streamapp.settings.status import StatusSettings
from streamapp.settings.topics import TopicSettings

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "BrokerSettings",
    "ConfigError",
    "FormatSettings",
    "HttpSettings",
    "KafkaSettings",
    "LogSettings",
    "ModelSettings",
    "MonitoringSettings",
    "RetrainSettings",
    "SamplingSettings",
    "SchemaRegistrySettings",
    "ScoringSettings",
    "Settings",
    "StatusSettings",
    "TopicSettings",
    "load_settings",
    "masked_dump",
]

ENV_PREFIX = "STREAMAPP_"
CONFIG_ENV = "STREAMAPP_CONFIG"
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("streamapp_config_file", default=None)
"""The TOML file of the :func:`load_settings` call in progress (set only during it)."""


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
    schema_registry: SchemaRegistrySettings = Field(default_factory=SchemaRegistrySettings)
    formats: FormatSettings = Field(default_factory=FormatSettings)

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


def load_settings(
    config_file: Path | None = None, *, check_files: bool = False, **overrides: Any
) -> Settings:
    """Build the effective settings; raise :class:`ConfigError` naming any bad setting.

    ``config_file`` (a TOML file; default: ``STREAMAPP_CONFIG``) is read for this
    call only: the process environment is never written. Code that starts child
    processes passes the file on itself (``STREAMAPP_CONFIG`` in their environment).
    ``check_files`` also fails when a TLS file the Kafka connection names cannot be read
    (the CLI sets it: a missing CA is a configuration error, not a client failure later).
    """
    env_file = os.environ.get(CONFIG_ENV)
    path = config_file if config_file is not None else Path(env_file) if env_file else None
    if path is not None:
        _check_config_file(path)
    _reject_unknown_env()
    token = _CONFIG_FILE.set(path)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_syntax(path, exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc})") from None
    finally:
        _CONFIG_FILE.reset(token)
    if check_files:
        problems = tls_file_problems(settings.kafka)
        if problems:
            raise ConfigError("; ".join(problems))
    return settings


def _check_config_file(path: Path) -> None:
    """The ``--config`` file must be a readable file (a typo would silently mean defaults)."""
    if path.is_dir():
        raise ConfigError(
            f"config file {path} is a directory, not a TOML file; pass the file itself to "
            f"--config (STREAMAPP_CONFIG), e.g. {path / 'streamapp.toml'}"
        )
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist; pass an existing TOML file to --config "
            "(STREAMAPP_CONFIG)"
        )


def _toml_syntax(path: Path | None, exc: tomllib.TOMLDecodeError) -> str:
    """A TOML syntax error as one line naming the file, the line and the column.

    >>> _toml_syntax(Path("s.toml"), tomllib.TOMLDecodeError("Invalid value (at line 2, column 7)"))
    'config file s.toml, line 2, column 7: invalid TOML (Invalid value); fix the syntax there'
    """
    text = str(exc)
    where = re.search(r"\s*\(at line (\d+), column (\d+)\)$", text)
    if where is None:
        return f"config file {path}: invalid TOML ({text}); fix the syntax there"
    message = text[: where.start()]
    return (
        f"config file {path}, line {where[1]}, column {where[2]}: invalid TOML ({message}); "
        "fix the syntax there"
    )


def _reject_unknown_env() -> None:
    """Fail on ``STREAMAPP_*`` variables that name no setting (typos would be ignored)."""
    known = list(Settings.model_fields)
    for name in os.environ:
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        section = path[0]
        if section not in known:
            hint = _closest(path, 0, known) or f"sections: {', '.join(known)}"
            raise ConfigError(f"unknown setting {name} (no section {section!r}); {hint}")
        if len(path) > 1:
            fields = _fields_at([section])
            if path[1] not in fields:
                hint = _closest(path, 1, fields) or f"[{section}] has: {', '.join(fields)}"
                raise ConfigError(
                    f"unknown setting {name} (no field {section}.{path[1]}); {hint}"
                )


def _closest(path: list[str], index: int, names: Sequence[str]) -> str | None:
    """``did you mean STREAMAPP_...?`` with ``path[index]`` replaced by the closest name.

    >>> _closest(["kafka", "sasl_user"], 1, ["sasl_username", "client_id"])
    'did you mean STREAMAPP_KAFKA__SASL_USERNAME?'
    """
    close = difflib.get_close_matches(path[index], names, n=1)
    if not close:
        return None
    fixed = [*path[:index], close[0], *path[index + 1 :]]
    return f"did you mean {ENV_PREFIX}{'__'.join(fixed).upper()}?"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model an annotation holds (``X``, ``X | None``, ``list[X]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _fields_at(loc: Sequence[str | int]) -> list[str]:
    """The field names of the section (or nested model) at ``loc``; empty if none."""
    model: type[BaseModel] | None = Settings
    for part in loc:
        if isinstance(part, int):
            continue  # a list item: the model was found at the list's field
        field = model.model_fields.get(part) if model is not None else None
        model = _model_of(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _describe(exc: ValidationError, config_file: Path | None) -> str:
    """Every validation error as ``invalid setting a.b (STREAMAPP_A__B): what``, joined."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(part) for part in loc) or "settings"
        if err["type"] == "extra_forbidden":
            lines.append(_unknown(loc, where, config_file))
            continue
        env = f" ({ENV_PREFIX}{'__'.join(map(str, loc)).upper()})" if len(loc) == 2 else ""
        lines.append(f"invalid setting {where}{env}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def _unknown(loc: tuple[str | int, ...], where: str, config_file: Path | None) -> str:
    """An unknown key (a TOML typo): the closest real name, or the names there are."""
    parent, name = loc[:-1], str(loc[-1])
    fields = _fields_at(parent)
    prefix = ".".join(str(part) for part in parent)
    text = f"unknown setting {where}" + (f" in {config_file}" if config_file else "")
    close = difflib.get_close_matches(name, fields, n=1)
    if close:
        return f"{text}; did you mean {prefix + '.' if prefix else ''}{close[0]}?"
    if fields:
        return f"{text}; [{prefix}] has: {', '.join(fields)}" if prefix else (
            f"{text}; sections: {', '.join(fields)}"
        )
    return text


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-compatible data, masked exactly as log records are.

    Every ``SecretStr``, every key that names a credential (``kafka.extra`` included, e.g.
    ``sasl.oauthbearer.client.secret``) and every ``password=...`` pair inside a value
    (e.g. ``sasl.jaas.config``) shows as ``**********``
    (:meth:`streamapp.settings.masking.Redactor.field`).
    """
    redactor = Redactor(secret_values(settings))
    data = settings.model_dump(mode="json")
    return {key: redactor.field(key, value) for key, value in data.items()}
