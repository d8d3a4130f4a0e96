"""Logging set-up: JSON lines for machines, readable text for terminals, no secrets in either.

Every JSON record carries a UTC timestamp, level, logger, pid, message, the
context bound with :func:`log_context` (model, version, topic, partition) and
any ``extra=`` fields; exceptions add ``error`` (type: message) and
``traceback``. Before a record is written, :class:`Redactor` masks the values of
configured secrets (:func:`secret_values` of the settings), ``password=...``
style pairs, and extras whose key names a credential (the masking itself lives in
:mod:`streamapp.settings.masking`, shared with ``streamapp config show``):

>>> Redactor(["hunter2"]).text("login hunter2")
'login **********'
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

from streamapp.settings.masking import MASK, Redactor, secret_values

__all__ = [
    "MASK",
    "JsonFormatter",
    "Redactor",
    "RepeatFilter",
    "TextFormatter",
    "configure_logging",
    "json_logging",
    "log_context",
    "secret_values",
]

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_CONTEXT: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "streamapp_log_context", default=None
)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (e.g. model, version, topic, partition) to every record logged inside.

    Context is per thread and asyncio task (contextvars: a new thread starts without it);
    nested contexts merge, the inner value wins.
    """
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(_CONTEXT.get() or {})
    fields.update(
        (k, v) for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
    )
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line, secrets masked."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        r = self.redactor
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "msg": r.text(record.getMessage()),
        }
        for key, value in _fields(record).items():
            payload.setdefault(key, r.field(key, value))
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            payload["error"] = r.text(f"{type(exc).__name__}: {exc}")
            payload["traceback"] = r.text(self.formatException(record.exc_info))
        return orjson.dumps(payload, default=str).decode()


class TextFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message  [key=value ...]`` for terminals, secrets masked."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        r = self.redactor
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={r.field(k, v)}" for k, v in _fields(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {r.text(record.getMessage())}"
        if extras:
            line += f"  [{extras}]"
        if record.exc_info:
            line += "\n" + r.text(self.formatException(record.exc_info))
        return line


REPEATING = ("streamapp.kafka.client", "streamapp.kafka.librdkafka", "aiokafka", "kafka")
"""Loggers whose warnings repeat on every reconnect attempt while a broker is unreachable."""


class RepeatFilter(logging.Filter):
    """Rate-limits warnings of the :data:`REPEATING` loggers: the first of a kind passes,
    the same kind again passes at most once per ``interval_s`` with a ``repeated`` count.

    A kind is the logger and the first word of the message (librdkafka's facility,
    e.g. ``FAIL``) or the ``kafka_error`` code. Suppressed records are counted, never lost
    silently: the next record of that kind that passes says how many were left out.
    """

    def __init__(self, interval_s: float = 30.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.interval_s, self._clock = interval_s, clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(REPEATING):
            return True
        message = record.getMessage()
        kind = str(getattr(record, "kafka_error", "") or message.split(" ", 1)[0])
        key = (record.name, kind)
        now = self._clock()
        last, skipped = self._seen.get(key, (float("-inf"), 0))
        if now - last < self.interval_s:
            self._seen[key] = (last, skipped + 1)
            return False
        self._seen[key] = (now, 0)
        if skipped:
            record.repeated = skipped
            record.msg = f"{message} (and {skipped} more like it in the last {now - last:.0f}s)"
            record.args = None
        return True


def configure_logging(
    level: str = "INFO",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    repeat_interval_s: float = 30.0,
) -> None:
    """Install one stderr handler on the root logger (replacing earlier ones).

    ``secrets`` (usually :func:`secret_values` of the settings) are masked in
    every record; ``fmt="auto"`` picks text on a TTY and JSON otherwise; Kafka
    client warnings are rate-limited by a :class:`RepeatFilter` of ``repeat_interval_s``.
    """
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redactor) if fmt == "json" else TextFormatter(redactor))
    handler.addFilter(RepeatFilter(repeat_interval_s))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx / httpx2: the Schema Registry client logs every request at INFO
    for noisy in ("aiokafka", "faust", "mode", "kafka", "httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def json_logging() -> bool:
    """Whether :func:`configure_logging` installed the JSON formatter (so stderr is JSON only)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)
