"""What a join store belongs to, and whether a checkpoint can belong to the log it reads.

A checkpoint (the local store's metadata, a changelog marker) records the
cluster id, the topic ids (KIP-516) of the inputs and the changelog, and its
offsets in them. It can only describe the log it is about to read if the cluster
and every topic incarnation are the recorded ones and no offset lies beyond
its partition's end. Otherwise it is *distrusted*: a directory copied from
another environment, a broker replaced with an empty one, topics deleted and
created again, a log truncated under it. Its offsets would skip input that was
never processed, so the store is rebuilt (Kafka Streams wipes a task's state
for the same reason: ``TaskCorruptedException``).

:func:`~.kafka_io.cluster_view` asks the cluster (at assignment, before any
store is opened); :func:`distrust` is the pure check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why a checkpoint cannot belong to the log (the metric's ``reason`` label)."""

    OTHER_CLUSTER = "other_cluster"
    OTHER_TOPIC = "other_topic"
    """A topic was deleted and created again (another topic id), or is gone."""
    BEYOND_END = "beyond_end"
    """An offset past the partition's end: the log was truncated or replaced."""
    UNKNOWN_ORIGIN = "unknown_origin"
    """A local store written before stores recorded their cluster and topic ids."""


@dataclass(frozen=True)
class Distrust:
    """A verdict: the reason code and what was compared, for the log line."""

    reason: Reason
    detail: str


@dataclass(frozen=True)
class ClusterView:
    """What the cluster says now about the topics of one join partition."""

    cluster: str
    topic_ids: Mapping[str, str]
    """Topic name → topic id (absent: the topic does not exist)."""
    ends: Mapping[str, int]
    """Topic name → end offset (high watermark) of this partition."""


def distrust(
    cluster: str, topic_ids: Mapping[str, str], offsets: Mapping[str, int], now: ClusterView,
    *, local: bool,
) -> Distrust | None:
    """Why a checkpoint recorded with ``cluster``, ``topic_ids`` and ``offsets`` (topic →
    next offset) cannot belong to the log ``now`` describes; None when it can.

    A checkpoint without a cluster id predates the recording: a ``local`` store's is
    distrusted (the changelog is on the cluster and restores it), a changelog
    marker's only checked against the ends.

    >>> now = ClusterView("c1", {"in": "id2"}, {"in": 40})
    >>> distrust("c1", {"in": "id2"}, {"in": 40}, now, local=True) is None
    True
    >>> distrust("c1", {"in": "id1"}, {"in": 10}, now, local=True).reason
    <Reason.OTHER_TOPIC: 'other_topic'>
    >>> distrust("c1", {"in": "id2"}, {"in": 41}, now, local=True).reason
    <Reason.BEYOND_END: 'beyond_end'>
    """
    if not cluster:
        if local:
            return Distrust(Reason.UNKNOWN_ORIGIN, "no cluster id recorded")
    elif cluster != now.cluster:
        return Distrust(Reason.OTHER_CLUSTER, f"cluster {cluster}, now {now.cluster}")
    for topic, tid in sorted(topic_ids.items()):
        current = now.topic_ids.get(topic)
        if current != tid:
            return Distrust(Reason.OTHER_TOPIC,
                            f"topic {topic} id {tid}, now {current or 'missing'}")
    for topic, offset in sorted(offsets.items()):
        end = now.ends.get(topic)
        if end is not None and offset > end:
            return Distrust(Reason.BEYOND_END, f"{topic} offset {offset} > end {end}")
    return None
