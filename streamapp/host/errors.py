"""Start-up errors a role host turns into exit code 2 and one line naming the setting.

Each is a configuration problem that no retry heals: the command reports it and
exits before a broker, a port or a consumer is taken.
"""

from __future__ import annotations

from pathlib import Path

SERVERS_SETTING = "kafka.bootstrap_servers (STREAMAPP_KAFKA__BOOTSTRAP_SERVERS)"


class StartupError(Exception):
    """A role cannot start with these settings; the message names the setting and the fix."""


class NoClusterError(StartupError):
    """No Kafka cluster is configured and no local broker was asked for."""

    def __init__(self, command: str, flag: str = "--local-broker") -> None:
        fix = f", or pass {flag} for a development broker" if flag else ""
        super().__init__(
            f"streamapp {command} needs a Kafka cluster: set {SERVERS_SETTING}{fix}"
        )


class OutputSchemaError(StartupError):
    """The Schema Registry refuses an output topic's Avro schema (``formats.predictions``,
    ``formats.joined_outcomes``): no retry heals it; the message names the subject and both
    settings."""


class NoRegistryError(StartupError):
    """A topic format needs the Schema Registry and ``schema_registry.url`` is not set."""

    def __init__(self, formats: dict[str, str]) -> None:
        named = ", ".join(f"formats.{k} = {v}" for k, v in formats.items())
        super().__init__(
            f"{named} needs a Schema Registry: set schema_registry.url "
            "(STREAMAPP_SCHEMA_REGISTRY__URL), or set the format back to json"
        )


class StateDirError(StartupError):
    """The monitor's state directory cannot be created or written."""


def ensure_state_dir(path: Path) -> Path:
    """Create ``monitoring.state_dir`` (and parents); :class:`StateDirError` naming it if not.

    >>> import tempfile; d = Path(tempfile.mkdtemp()) / "state"
    >>> ensure_state_dir(d) == d and d.is_dir()
    True
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".streamapp-write-check"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise StateDirError(
            f"cannot use monitoring.state_dir {path.resolve()}: {exc.strerror or exc}; set "
            "monitoring.state_dir (STREAMAPP_MONITORING__STATE_DIR) to a writable directory"
        ) from None
    return path
