"""Per-stage µs/event of the scoring hot path, next to a CPU-bound relay, in one run.

``python -m benchmarks.scoring.stages [--events 100000] [--batch 512]``

One fresh local broker (Apache Kafka when installed), one topic of pre-produced
Agrawal events (4 partitions). Three passes over the same events, one thread each:

1. **relay**: ``consume`` → ``orjson.loads`` → ``orjson.dumps`` → ``produce`` → ``poll``
   (the ceiling for any Python scorer on this broker and client);
2. **stages**: the worker's own parts called in sequence, each timed with
   ``perf_counter``: consume (``KafkaSource.fetch``), decode + validate
   (``Decoder.decode``), route (sampling decisions), score (model call),
   encode (record building), produce (``KafkaSink.send``), delivery bookkeeping
   (``KafkaSink.poll`` serving the delivery callbacks);
3. **worker**: ``streamapp score`` in a subprocess, events/s from the first
   output to the group's committed offsets reaching the end.

Prints one JSON object; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KafkaTP

from benchmarks.scoring.stage_timers import Timers, instrument
from streamapp.brokers import embedded_broker
from streamapp.config import Settings
from streamapp.kafka.produce import send
from streamapp.kafka.topics import ensure_topics
from streamapp.settings.scoring import ScoringSettings
from streamapp.training.synthetic import agrawal

REPO = Path(__file__).resolve().parents[2]
PARTS = 4


def _produce(bootstrap: str, topic: str, n: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                  "queue.buffering.max.messages": 2_000_000})
    stamp = "2026-11-29T00:00:00+00:00"
    for i, (x, _y) in enumerate(agrawal(n, 7)):
        eid = f"ev-{i}"
        body = orjson.dumps({"event_id": eid, "event_time": stamp, "features": x})
        send(p, topic, body, eid.encode())
    p.flush(120)


def _consumer(bootstrap: str, topic: str) -> Consumer:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    c.assign([KafkaTP(topic, p, 0) for p in range(PARTS)])
    return c


def relay(bootstrap: str, src: str, dst: str, n: int, batch: int) -> float:
    """µs/event of the raw relay (one thread, CPU-bound)."""
    c = _consumer(bootstrap, src)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                  "queue.buffering.max.messages": 1_000_000})
    done, started = 0, 0.0
    loads, dumps, produce = orjson.loads, orjson.dumps, p.produce
    while done < n:
        msgs = c.consume(batch, 0.5)
        if msgs and not started:
            started = time.perf_counter()
        for m in msgs:
            produce(dst, dumps(loads(m.value())), m.key())
        done += len(msgs)
        p.poll(0)
    p.flush(60)
    c.close()
    return (time.perf_counter() - started) / n * 1e6


def stages(bootstrap: str, topics: dict[str, str], registry: str, n: int, batch: int) -> Timers:
    """µs/event per stage of the worker's parts, called in one thread."""
    settings = Settings(kafka={"bootstrap_servers": bootstrap}, topics=topics,
                        model={"registry": registry})
    timers = Timers()
    fetch, decode, route, send, poll = instrument(settings, bootstrap, timers)
    done, started = 0, 0.0
    while done < n:
        msgs = fetch(batch)
        if not msgs:
            continue
        if not started:  # group join and first fetch are not per-event costs
            started = time.perf_counter()
            timers.seconds["consume"] = 0.0
        outputs = route(decode(msgs))
        send(msgs, outputs)
        poll()
        done += len(msgs)
    timers.total_s = time.perf_counter() - started
    timers.events = n
    return timers


def worker(
    bootstrap: str, topics: dict[str, str], registry: str, n: int, processes: int = 1
) -> float:
    """events/s of ``streamapp score`` (defaults, one process) over the pre-produced events."""
    group = f"bench-worker-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
           "STREAMAPP_MODEL__REGISTRY": registry, "STREAMAPP_SCORING__GROUP_ID": group,
           "STREAMAPP_HTTP__PORT": "0",
           **{f"STREAMAPP_TOPICS__{k.upper()}": v for k, v in topics.items()}}
    if "processes" in ScoringSettings.model_fields:
        env["STREAMAPP_SCORING__PROCESSES"] = str(processes)
    log = Path(os.environ.get("BENCH_LOG_DIR", "/dev/null"))
    log = log / f"worker-{processes}p.log" if log.is_dir() else log
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamapp", "score"], env=env,
                                stdout=out, stderr=out)
    admin = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    tps = [KafkaTP(topics["events"], p) for p in range(PARTS)]
    first = last = 0.0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = sum(max(tp.offset, 0) for tp in admin.committed(tps, 10))
            now = time.perf_counter()
            if done and not first:
                first = now
            if done >= n:
                last = now
                break
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(60)
        admin.close()
    return n / (last - first) if last > first else 0.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--no-worker", action="store_true")
    ap.add_argument("--processes", default="1", help="comma-separated worker process counts")
    args = ap.parse_args(argv)
    registry = str(REPO / "models")
    suffix = uuid.uuid4().hex[:6]
    topics = {"events": f"ev-{suffix}", "predictions": f"pr-{suffix}",
              "prediction_log": f"pl-{suffix}", "dead_letter": f"dl-{suffix}"}
    with embedded_broker(Settings().broker) as broker:  # STREAMAPP_BROKER__* apply
        boot = broker.bootstrap_servers
        ensure_topics({"bootstrap.servers": boot}, {t: PARTS for t in topics.values()})
        _produce(boot, topics["events"], args.events)
        relay_us = relay(boot, topics["events"], f"relay-{suffix}", args.events, args.batch)
        timers = stages(boot, topics, registry, args.events, args.batch)
        print(orjson.dumps({"relay_us_per_event": relay_us, **timers.report()}).decode(),
              file=sys.stderr, flush=True)
        counts = [] if args.no_worker else [int(p) for p in args.processes.split(",")]
        if "processes" not in ScoringSettings.model_fields:
            counts = counts[:1]  # before the supervisor existed: one process only
        rates = {p: worker(boot, topics, registry, args.events, p) for p in counts}
    report: dict[str, Any] = {
        "events": args.events, "relay_us_per_event": round(relay_us, 2),
        "relay_events_per_s": round(1e6 / relay_us), **timers.report(),
        **{f"worker_{p}p_events_per_s": round(r) for p, r in rates.items()},
    }
    report["stages_vs_relay"] = round(relay_us / report["stages_total_us_per_event"], 2)
    for p, r in rates.items():
        report[f"worker_{p}p_vs_relay"] = round(r * relay_us / 1e6, 2)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
