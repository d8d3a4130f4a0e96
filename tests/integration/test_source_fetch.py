"""KafkaSource.fetch with an idle wait: returns with what arrived, never waits for a full batch."""

from __future__ import annotations

import threading
from typing import Any

from streamapp.kafka.source import KafkaSource
from streamapp.kafka.topics import ensure_topics
from tests.integration.conftest import produce_all


def _source(bootstrap: str, topic: str, unique: str) -> tuple[KafkaSource, threading.Event]:
    assigned = threading.Event()
    source = KafkaSource(
        {"bootstrap.servers": bootstrap, "group.id": f"fetch-{unique}",
         "auto.offset.reset": "earliest"},
        topic, lambda _tps: assigned.set(), lambda _tps: None, lambda _tps: None,
    )
    return source, assigned


def test_idle_fetch_returns_the_first_records_with_whatever_is_queued(
    bootstrap: str, unique: str
) -> None:
    topic = f"fetch-{unique}"
    ensure_topics({"bootstrap.servers": bootstrap}, {topic: 1})
    source, assigned = _source(bootstrap, topic, unique)
    try:
        while not assigned.is_set():  # the group join happens inside fetch
            assert source.fetch(10, 0.0, idle_s=0.2) == []
        values = [f"v{i}".encode() for i in range(3)]
        produce_all(bootstrap, topic, [(None, v) for v in values])
        got: list[Any] = []
        while len(got) < len(values):
            # size 1,000 and no batch wait: a plain consume(1000, 600) would hold all three
            # records for ten minutes; the idle wait returns at the first one.
            got += source.fetch(1000, 0.0, idle_s=600)
        assert [m.value() for m in got] == values
    finally:
        source.close()
