"""Operator commands to the monitor: acknowledge an incident, re-baseline a version.

``streamapp incidents ack|rebaseline MODEL VERSION`` writes a command record to
the summaries topic with the version's key (``model/version``), so it reaches the
policy agent that owns that version's state, in order with its summaries.

- ``ack``: closes the open incident and holds the policy quiet for
  ``monitoring.policy.cooldown_s`` (the problem is known; no new request, no alert).
- ``rebaseline``: after an expected shift, drops the version's windows, so accuracy
  and drift are judged on data from now on (``min_samples`` again before any
  trigger), and closes its incident.

A malformed command is logged and dropped.
"""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime
from typing import Any

import orjson

from streamapp.monitoring.control.aggregator import Aggregator

log = logging.getLogger(__name__)

COMMANDS = ("ack", "rebaseline")


def command_record(command: str, model: str, version: str, note: str = "") -> tuple[bytes, bytes]:
    """``(key, value)`` of one command record (key: the version's summaries key)."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r} (one of {', '.join(COMMANDS)})")
    value = {
        "command": command, "model": model, "version": version, "note": note,
        "by": socket.gethostname(), "at": datetime.now(UTC).isoformat(),
    }
    return f"{model}/{version}".encode(), orjson.dumps(value)


def is_command(raw: bytes) -> bool:
    """Whether a summaries-topic record is an operator command (cheap pre-check)."""
    return raw.startswith(b'{"command"')


def apply_command(aggregator: Aggregator, raw: bytes, now: float) -> None:
    """Apply one command record to the policy state (runs in the policy agent)."""
    try:
        cmd: dict[str, Any] = orjson.loads(raw)
        command, model, version = str(cmd["command"]), str(cmd["model"]), str(cmd["version"])
    except (ValueError, KeyError, TypeError):
        log.warning("dropping malformed operator command")
        return
    state = aggregator.policy_state(model, version)
    was_open = bool(state.get("open"))
    if command == "rebaseline":
        aggregator.forget_version(model, version)
    elif command == "ack":
        state["suppressed_until"] = now + aggregator.settings.policy_for(model).cooldown_s
    else:
        log.warning("dropping unknown operator command %r", command)
        return
    state.update(open=False, acknowledged_at=cmd.get("at"), acknowledged_by=cmd.get("by"))
    state.setdefault("incident", 0)
    state.setdefault("last_request", None)
    aggregator.set_policy_state(model, version, state)
    log.info("operator %s of %s/%s (incident was %s)", command, model, version,
             "open" if was_open else "closed",
             extra={"model": model, "version": version, "command": command,
                    "note": cmd.get("note", "")})
