"""Latency phase of the scoring benchmark: offer a fixed load, time event time → output consumed.

The harness's own clients are tuned for latency so that they are not what is measured:
the load generator's producer sends at once (``linger.ms`` 0) with TCP_NODELAY
(``socket.nagle.disable``), and so does the reader's consumer. The system under test keeps
its own client settings (streamapp's defaults, or what ``env`` sets). ``latency_floor`` is the
same generator and reader with nothing in between (produce → broker → consume).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from streamapp.kafka.topics import ensure_topics
from streamapp.training.synthetic import agrawal

REPO = Path(__file__).resolve().parents[2]


Percentiles = tuple[float, float, float]
"""Latency p50, p99, p999 in ms (NaN when the variant could not keep up)."""

NAN: Percentiles = (float("nan"), float("nan"), float("nan"))


@dataclass(frozen=True)
class Latency:
    """Percentiles of one offered load, ms."""

    total: Percentiles
    """Event time → output consumed by the reader."""
    handoff: Percentiles
    """Event time → the output record's timestamp (``CreateTime``: when the system under test
    handed the output to its producer; for the broker floor, the generator's own produce call)."""
    routed: Percentiles | None
    """Event time → the output's ``scored_time`` (streamapp: when its batch's routing began,
    after fetch, decode and the hand-off to a scorer thread; None: the outputs have none)."""


def _percentiles(seconds: list[float]) -> Percentiles:
    p50, p99, p999 = np.percentile(np.asarray(seconds) * 1000, [50, 99, 99.9])
    return float(p50), float(p99), float(p999)


def _latency(bootstrap: str, start: Any, in_topic: str, out_topic: str, rate: float,
             seconds: float, features: Sequence[dict[str, Any]] | None = None) -> Latency:
    """Offer ``rate`` events/s for ``seconds`` to ``in_topic``; time the outputs on ``out_topic``.

    ``features``: the events' ``features`` objects, cycled (default: 1,000 Agrawal rows).

    The reader is ``read_committed``: exactly-once outputs count when their transaction commits.
    """
    stopper = start()
    latencies: list[float] = []
    handoffs: list[float] = []
    routed: list[float] = []
    total = int(rate * seconds)
    try:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "lat",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 10,
                             "socket.nagle.disable": True,
                             "isolation.level": "read_committed"})
        parts = consumer.list_topics(out_topic, timeout=10).topics[out_topic].partitions
        consumer.assign([TopicPartition(out_topic, p, OFFSET_BEGINNING) for p in parts])

        def read() -> None:
            deadline = time.monotonic() + seconds + 30
            while len(latencies) < total and time.monotonic() < deadline:
                # poll() returns at the first output; consume(1000, 0.05) would wait the whole
                # 50 ms unless 1,000 outputs arrived (up to 50 ms added before 2026-11-29 20:40).
                first = consumer.poll(0.05)
                if first is None:
                    continue
                batch = [first, *consumer.consume(1000, 0)]
                now = time.time()  # arrival, before the parsing below
                for m in batch:
                    if m.error() is None:
                        body = orjson.loads(m.value())
                        t = datetime.fromisoformat(body["event_time"]).timestamp()
                        latencies.append(now - t)
                        handoffs.append(m.timestamp()[1] / 1000 - t)
                        if "scored_time" in body:
                            routed.append(datetime.fromisoformat(body["scored_time"]).timestamp()
                                          - t)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # Bounded pipelining: with librdkafka's default (1,000,000 requests in flight) a
        # CPU-starved broker queues thousands of tiny requests and the harness measures
        # its own backlog (ProduceRequest round trips of 6 s at 5k events/s on Kafka 4.1).
        # linger 0 and TCP_NODELAY: each event leaves as soon as it is made.
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0,
                             "socket.nagle.disable": True,
                             "max.in.flight.requests.per.connection": 5})
        feats = features or [x for x, _ in agrawal(1000, 11)]
        tick, sent, t0 = 0.005, 0, time.monotonic()
        while sent < total:
            due = min(total, int((time.monotonic() - t0) * rate))
            for i in range(sent, due):
                eid = f"lat{i}"
                value = orjson.dumps({"event_id": eid,
                                      "event_time": datetime.now(UTC).isoformat(),
                                      "features": feats[i % len(feats)]})
                while True:
                    try:
                        producer.produce(in_topic, value, eid.encode())
                        break
                    except BufferError:  # the local queue is full: let deliveries drain it
                        producer.poll(0.05)
            sent = due
            producer.poll(0)
            time.sleep(tick)
        producer.flush(30)
        reader.join()
        consumer.close()
    finally:
        stopper()
    if len(latencies) < total * 0.99:
        return Latency(NAN, NAN, NAN)
    return Latency(_percentiles(latencies), _percentiles(handoffs),
                   _percentiles(routed) if routed else None)


def latency_floor(bootstrap: str, rate: float, seconds: float,
                  features: Sequence[dict[str, Any]] | None = None) -> Latency:
    """The harness alone: the reader reads the generator's topic (produce → broker → consume)."""
    topic = f"lat-floor-{uuid.uuid4().hex[:4]}"
    ensure_topics({"bootstrap.servers": bootstrap}, {topic: 4})
    return _latency(bootstrap, lambda: lambda: None, topic, topic, rate, seconds, features)


def latency_streamapp(bootstrap: str, rate: float, seconds: float,
                      env: dict[str, str] | None = None,
                      features: Sequence[dict[str, Any]] | None = None) -> Latency:
    """Latency of a ``streamapp score`` process (``env``: extra settings) at ``rate`` events/s."""
    from benchmarks.scoring import run  # run imports this module

    topics = run._topics(f"lat-s-{uuid.uuid4().hex[:4]}")
    ensure_topics({"bootstrap.servers": bootstrap}, {t: 4 for t in topics.values()})

    def start() -> Any:
        proc, _port = run._start_streamapp(bootstrap, topics, env=env)
        return lambda: (proc.terminate(), proc.wait(30))

    return _latency(bootstrap, start, topics["events"], topics["predictions"], rate, seconds,
                    features)


def latency_variant(
    name: str, bootstrap: str, rate: float, seconds: float,
    features: Sequence[dict[str, Any]] | None = None,
) -> Latency:
    """Latency of a baseline from ``variants.py`` at ``rate`` events/s."""
    src = f"lat-{name}-{uuid.uuid4().hex[:4]}"
    dst = f"{src}.out"
    ensure_topics({"bootstrap.servers": bootstrap}, {src: 4, dst: 4})

    def start() -> Any:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.scoring.variants", name,
                                 bootstrap, src, dst, "0"], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        for line in proc.stdout:
            if b"ready" in line:
                break
        return lambda: (proc.kill(), proc.wait())

    return _latency(bootstrap, start, src, dst, rate, seconds, features)
