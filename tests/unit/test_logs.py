"""streamapp.logs: JSON/text records with context, tracebacks, and secrets masked."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from streamapp.config import Settings
from streamapp.logs import (
    MASK,
    JsonFormatter,
    Redactor,
    RepeatFilter,
    TextFormatter,
    configure_logging,
    log_context,
    secret_values,
)
from streamapp.settings.kafka import KafkaSettings

PASSWORD = "s3cr3t-Pa55"


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def _records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_record_has_utc_time_level_logger_pid_and_extras() -> None:
    logger, stream = _capture(JsonFormatter())
    logger.info("scored %d events", 12, extra={"topic": "events", "partition": 3})
    (record,) = _records(stream)
    assert record["msg"] == "scored 12 events"
    assert record["level"] == "INFO"
    assert record["logger"] == logger.name
    assert isinstance(record["pid"], int) and record["pid"] > 0
    ts = datetime.fromisoformat(str(record["ts"]))
    assert ts.utcoffset() == timedelta(0)
    assert (record["topic"], record["partition"]) == ("events", 3)


def test_log_context_adds_model_and_version_and_nests() -> None:
    logger, stream = _capture(JsonFormatter())
    with log_context(model="agrawal-clf", version="1"):
        logger.info("outer")
        with log_context(version="2", partition=0):
            logger.info("inner")
    logger.info("outside")
    outer, inner, outside = _records(stream)
    assert (outer["model"], outer["version"]) == ("agrawal-clf", "1")
    assert (inner["model"], inner["version"], inner["partition"]) == ("agrawal-clf", "2", 0)
    assert "model" not in outside


def test_log_context_does_not_leak_into_other_threads() -> None:
    logger, stream = _capture(JsonFormatter())
    with log_context(model="m"):
        thread = threading.Thread(target=logger.info, args=("from thread",))
        thread.start()
        thread.join()
    (record,) = _records(stream)
    assert "model" not in record


def test_exception_records_error_and_traceback() -> None:
    logger, stream = _capture(JsonFormatter())
    try:
        raise ValueError("bad batch")
    except ValueError:
        logger.exception("scoring failed", extra={"model": "m"})
    (record,) = _records(stream)
    assert record["error"] == "ValueError: bad batch"
    assert "Traceback (most recent call last)" in str(record["traceback"])
    assert record["level"] == "ERROR"


def test_configured_secret_is_masked_everywhere_in_json() -> None:
    logger, stream = _capture(JsonFormatter(Redactor([PASSWORD])))
    try:
        raise RuntimeError(f"auth failed for {PASSWORD}")
    except RuntimeError:
        logger.exception(
            "connecting with %s",
            PASSWORD,
            extra={"conf": {"bootstrap.servers": "k:9092", "note": f"pw {PASSWORD}"}},
        )
    output = stream.getvalue()
    assert PASSWORD not in output
    (record,) = _records(stream)
    assert record["msg"] == f"connecting with {MASK}"
    assert record["conf"] == {"bootstrap.servers": "k:9092", "note": f"pw {MASK}"}
    assert record["error"] == f"RuntimeError: auth failed for {MASK}"


def test_credential_keys_and_pairs_are_masked_without_configuration() -> None:
    logger, stream = _capture(JsonFormatter())
    logger.warning(
        "librdkafka conf sasl.password=hunter2 token: abc123 ok",
        extra={"sasl_password": "hunter2", "api_key": "k", "partition": 1},
    )
    (record,) = _records(stream)
    assert "hunter2" not in stream.getvalue() and "abc123" not in stream.getvalue()
    assert record["msg"] == f"librdkafka conf sasl.password={MASK} token: {MASK} ok"
    assert record["sasl_password"] == MASK and record["api_key"] == MASK
    assert record["partition"] == 1


def test_text_format_is_readable_and_masked() -> None:
    logger, stream = _capture(TextFormatter(Redactor([PASSWORD])))
    with log_context(model="agrawal-clf"):
        logger.error("login as %s failed", PASSWORD, extra={"partition": 2})
    line = stream.getvalue().strip()
    assert "ERROR" in line and logger.name in line
    assert f"login as {MASK} failed" in line
    assert "model=agrawal-clf" in line and "partition=2" in line
    assert PASSWORD not in line


def test_redactor_ignores_too_short_secrets_but_masks_longer_first() -> None:
    redactor = Redactor(["ab", "abcdef", "abc"])
    assert redactor.text("xx ab abcdef abc") == f"xx ab {MASK} {MASK}"


def test_secret_values_finds_every_secret_setting() -> None:
    settings = Settings(
        kafka=KafkaSettings(
            bootstrap_servers="k:9093",
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username="user",
            sasl_password=SecretStr(PASSWORD),
            ssl_key_password=SecretStr("key-pass"),
            extra={"sasl.oauthbearer.client.secret": "oauth-secret", "linger.ms": "5"},
        )
    )
    assert sorted(secret_values(settings)) == sorted([PASSWORD, "key-pass", "oauth-secret"])
    assert secret_values(Settings()) == []


def test_configure_logging_sets_level_format_and_one_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("WARNING", "json", [PASSWORD])
    configure_logging("WARNING", "json", [PASSWORD])
    root = logging.getLogger()
    assert len(root.handlers) == 1 and root.level == logging.WARNING
    logging.getLogger("streamapp.test").info("hidden")
    logging.getLogger("streamapp.test").warning("shown %s", PASSWORD)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert json.loads(err[0])["msg"] == f"shown {MASK}"
    configure_logging("DEBUG", "text")
    logging.getLogger("streamapp.test").debug("now text")
    assert "DEBUG" in capsys.readouterr().err


def test_cli_installs_the_configured_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command that loads settings masks the configured Kafka password in its logs."""
    from streamapp.cli.app import app

    monkeypatch.setenv("STREAMAPP_KAFKA__BOOTSTRAP_SERVERS", "k:9093")
    monkeypatch.setenv("STREAMAPP_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_USERNAME", "user")
    monkeypatch.setenv("STREAMAPP_KAFKA__SASL_PASSWORD", PASSWORD)
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    (handler,) = logging.getLogger().handlers
    formatter = handler.formatter
    assert isinstance(formatter, JsonFormatter | TextFormatter)
    assert formatter.redactor.text(f"pw {PASSWORD}") == f"pw {MASK}"


def test_repeat_filter_passes_the_first_then_one_summary_per_interval() -> None:
    now = [0.0]
    repeat = RepeatFilter(30.0, clock=lambda: now[0])

    def record(name: str, msg: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord(name, level, "", 0, msg, None, None)

    fail = "FAIL [c#consumer-1] [thrd:b]: Connect to ipv4#127.0.0.1:1 failed: %s"
    passed = []
    for _ in range(100):
        now[0] += 0.5
        rec = logging.LogRecord("streamapp.kafka.librdkafka", logging.ERROR, "", 0, fail,
                                ("Connection refused",), None)
        if repeat.filter(rec):
            passed.append(rec)
    assert len(passed) == 2
    assert passed[1].getMessage().endswith("(and 59 more like it in the last 30s)")
    assert passed[1].repeated == 59  # type: ignore[attr-defined]
    other = record("streamapp.kafka.librdkafka", "THROTTLE something")
    assert repeat.filter(other)  # another kind passes
    assert all(repeat.filter(record("streamapp.scoring.worker", "x")) for _ in range(3))
    assert all(repeat.filter(record("aiokafka", "x", logging.INFO)) for _ in range(3))
