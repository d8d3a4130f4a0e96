"""Idempotent topic creation with the configured partition counts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streamapp.kafka.client_logs import with_client_logging


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
    admin = AdminClient(with_client_logging(conf))
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
    metadata = _wait_visible(admin, topics, timeout)
    statuses = []
    for name, parts in topics.items():
        actual = len(metadata[name].partitions)
        if actual != parts:
            raise TopicError(f"topic {name} has {actual} partitions, configured {parts}")
        statuses.append(TopicStatus(name, actual, name in created))
    return statuses


def _wait_visible(admin: AdminClient, topics: dict[str, int], timeout: float) -> dict[str, Any]:
    """Metadata once every topic is listed with a leader per partition.

    CreateTopics answers when the controller has the topic; brokers learn of it a
    moment later. Raises :class:`TopicError` naming the topics still missing.
    """
    deadline = time.monotonic() + timeout
    while True:
        metadata: dict[str, Any] = admin.list_topics(timeout=timeout).topics
        pending = [
            name
            for name in topics
            if name not in metadata
            or metadata[name].error is not None
            or any(p.leader < 0 for p in metadata[name].partitions.values())
        ]
        if not pending:
            return metadata
        if time.monotonic() > deadline:
            raise TopicError(f"topics {pending} not visible with leaders {timeout}s after creation")
        time.sleep(0.05)
