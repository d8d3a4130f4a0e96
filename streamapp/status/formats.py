"""Each topic's wire format for ``streamapp status``, with its subject's latest schema.

For a topic in a registry format (``avro``, ``protobuf``, ``json_schema``) the row
carries the subject ``<topic>-value`` and its latest version and schema id. The
``registry`` column says how that went: ``ok``, ``no schema`` (nothing registered
yet), ``not configured`` (no ``schema_registry.url``) or ``unreachable`` (after the
first failed call the other subjects are not asked). Nothing here raises.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamapp.formats.configured import topic_formats
from streamapp.settings.formats import FormatSettings, SchemaRegistrySettings
from streamapp.settings.topics import TopicSettings

COLUMNS = ("topic", "format", "subject", "version", "schema_id", "registry")


def format_rows(
    topics: TopicSettings, formats: FormatSettings, registry: SchemaRegistrySettings,
    timeout_s: float,
) -> list[dict[str, Any]]:
    """One row per topic with a format setting (events, labels, predictions, joined
    outcomes), in that order."""
    rows: list[dict[str, Any]] = []
    client: SchemaRegistryClient | None = None
    down = False
    for topic, fmt in topic_formats(topics, formats).items():
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(topic=topic, format=fmt)
        rows.append(row)
        if fmt == "json":
            continue
        row["subject"] = subject = f"{topic}-value"
        if not registry.url:
            row["registry"] = "not configured"
            continue
        if down:
            row["registry"] = "unreachable"
            continue
        client = client or SchemaRegistryClient(
            {**registry.client_conf(), "timeout": min(registry.timeout_s, timeout_s)})
        row["registry"] = state = _latest(client, subject, row)
        down = state == "unreachable"
    return rows


def _latest(client: SchemaRegistryClient, subject: str, row: dict[str, Any]) -> str:
    """Fill ``version`` and ``schema_id`` of ``subject``; the registry's state."""
    try:
        latest = client.get_latest_version(subject)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return "no schema"
        if 400 <= exc.http_status_code < 500:
            return f"HTTP {exc.http_status_code}"
        return "unreachable"
    except Exception:  # connection refused, timeout, TLS: the report goes on
        return "unreachable"
    row.update(version=latest.version, schema_id=latest.schema_id)
    return "ok"
