"""What the join data plane needs from the cluster, beside scoring's Source and Sink ports.

:class:`JoinIO` bundles them; :func:`~streamapp.monitoring.dataplane.kafka_io.kafka_join_io`
builds the Kafka ones and :mod:`streamapp.testing.cluster` ships in-memory ones
(the same interface, with crash markers for recovery tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from streamapp.monitoring.dataplane.origin import ClusterView
from streamapp.scoring.ports import PartitionSink, Source

ChangelogRecord = tuple[int, int, bytes | None, bytes | None]
"""(partition, offset, key, value) of one changelog record."""


class ChangelogReader(Protocol):
    """Reads changelog partitions to their ends (restore at assignment)."""

    def read(self, topic: str, starts: dict[int, int], timeout_s: float
             ) -> Iterator[ChangelogRecord]:
        """Every record of ``topic``'s partitions from ``starts`` (partition → first offset)
        to the partition's end, in offset order per partition.

        Raises ``TimeoutError`` when a partition was not read to its end within
        ``timeout_s``, ``RuntimeError`` when a partition does not exist.
        """
        ...


class ClusterViews(Protocol):
    """What the cluster says now about the join's topics (:mod:`.origin`)."""

    def __call__(self, partitions: list[int]) -> dict[int, ClusterView]:
        """Per partition: the cluster id, the topic ids and the ends (blocking; raises when
        the cluster cannot answer)."""
        ...


@dataclass(frozen=True)
class JoinIO:
    """The ports of one join worker. It owns them: it subscribes, closes and flushes."""

    source: Source
    """prediction-log and labels, co-partitioned: partition p of both to one member."""
    outputs: PartitionSink
    """Markers, voids and summaries: a delivery report per record."""
    epochs: tuple[PartitionSink, PartitionSink]
    """Outcomes, dead letters and changelog writes, one per checkpoint in turn; they may
    report only failures (:meth:`PartitionSink.idle` says when the rest is acknowledged)."""
    changelog: ChangelogReader
    views: ClusterViews
