"""Idempotent topic creation with the configured partition counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]


class TopicError(RuntimeError):
    """A topic could not be created, or exists with a different partition count."""


@dataclass(frozen=True)
class TopicStatus:
    name: str
    partitions: int
    created: bool


def ensure_topics(
    conf: dict[str, Any],
    topics: dict[str, int],
    replication_factor: int = 1,
    timeout: float = 15.0,
    configs: dict[str, dict[str, str]] | None = None,
) -> list[TopicStatus]:
    """Create missing topics; existing ones are left alone (an idempotent second run is a no-op).

    ``configs`` gives topic configs (e.g. ``cleanup.policy``) by topic name, used at creation.

    Raises :class:`TopicError` when creation fails or an existing topic has a
    different partition count than configured.
    """
    admin = AdminClient(conf)
    existing = admin.list_topics(timeout=timeout).topics
    missing = [
        NewTopic(
            name,
            num_partitions=parts,
            replication_factor=replication_factor,
            config=(configs or {}).get(name, {}),
        )
        for name, parts in topics.items()
        if name not in existing
    ]
    created: set[str] = set()
    if missing:
        futures = admin.create_topics(missing, operation_timeout=timeout, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result()
                created.add(name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise TopicError(f"cannot create topic {name}: {exc}") from exc
    metadata = admin.list_topics(timeout=timeout).topics
    statuses = []
    for name, parts in topics.items():
        if name not in metadata:
            raise TopicError(f"topic {name} missing after creation")
        actual = len(metadata[name].partitions)
        if actual != parts:
            raise TopicError(f"topic {name} has {actual} partitions, configured {parts}")
        statuses.append(TopicStatus(name, actual, name in created))
    return statuses
