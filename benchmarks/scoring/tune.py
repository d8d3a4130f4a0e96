"""Client-default tuning: one streamapp worker's throughput and latency per setting.

``python -m benchmarks.scoring.tune [--events 100000] [--half-rate R] [--only LABEL ...]``

One fresh Apache Kafka broker and the same pre-produced events. Each candidate (every
tuned value set explicitly through ``STREAMAPP_*``) runs three times in a
fresh worker: throughput over the pre-produced events, then latency (event produced →
prediction consumed, read_committed) at the light load and at ``--half-rate``
(default: half of the first candidate's throughput). Prints a markdown table.
``--repeat`` interleaves rounds, so that a change in the machine's load hits every candidate;
``--floor`` adds, before each round, the broker floor at both loads (the harness's generator
and reader with nothing in between), so each round's latency can be read against it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from benchmarks.scoring.latency import Latency, latency_floor, latency_streamapp
from benchmarks.scoring.run import (
    EXACTLY_ONCE,
    SINK_LINGER0,
    _events,
    _ms,
    _produce,
    _topics,
    bench_streamapp,
    machine,
    routed_ms,
)
from streamapp.brokers import embedded_broker
from streamapp.config import BrokerSettings
from streamapp.kafka.topics import ensure_topics


def candidate(fetch_wait: int, linger: int, in_flight: int, max_wait: float, commit: float,
              exactly_once: bool = False, nagle_off: bool = False,
              scorer_threads: int = 2) -> dict[str, str]:
    """Every tuned value explicitly (as ``STREAMAPP_*`` env), so no result depends on defaults."""
    env = {
        "STREAMAPP_SCORING__FETCH_WAIT_MAX_MS": str(fetch_wait),
        "STREAMAPP_SCORING__MAX_WAIT_MS": str(max_wait),
        "STREAMAPP_SCORING__COMMIT_INTERVAL_MS": str(commit),
        "STREAMAPP_SCORING__SCORER_THREADS": str(scorer_threads),
        "STREAMAPP_KAFKA__EXTRA": json.dumps(
            {"linger.ms": str(linger), "max.in.flight.requests.per.connection": str(in_flight),
             "socket.nagle.disable": str(nagle_off).lower()}),
    }
    return {**env, **EXACTLY_ONCE} if exactly_once else env


UNBOUNDED = 1_000_000  # librdkafka's default max.in.flight.requests.per.connection
CANDIDATES: dict[str, dict[str, str]] = {  # previous defaults → chosen defaults → variations
    "previous": candidate(10, 5, UNBOUNDED, 20, 100),
    "inflight5": candidate(10, 5, 5, 20, 100),
    "inflight5+maxwait5": candidate(10, 5, 5, 5, 100),
    "maxwait5": candidate(10, 1, 5, 5, 100),
    "chosen": candidate(10, 1, 5, 0, 100),
    "chosen+linger0": candidate(10, 0, 5, 0, 100),
    "chosen+nagle_off": candidate(10, 1, 5, 0, 100, nagle_off=True),
    "chosen+linger0+nagle_off": candidate(10, 0, 5, 0, 100, nagle_off=True),
    "chosen+inline": candidate(10, 1, 5, 0, 100, scorer_threads=0),
    "chosen+inline+linger0": candidate(10, 0, 5, 0, 100, scorer_threads=0),
    "chosen+inline+nagle_off": candidate(10, 1, 5, 0, 100, nagle_off=True, scorer_threads=0),
    "chosen+inline+linger0+nagle_off": candidate(10, 0, 5, 0, 100, nagle_off=True,
                                                 scorer_threads=0),
    "chosen+fetch100": candidate(100, 1, 5, 0, 100),
    "chosen+commit1000": candidate(10, 1, 5, 0, 1000),
    "eos+commit100": candidate(10, 1, 5, 5, 100, exactly_once=True),
    "eos+commit50": candidate(10, 1, 5, 5, 50, exactly_once=True),
    "eos+commit250": candidate(10, 1, 5, 5, 250, exactly_once=True),
    "eos+commit500": candidate(10, 1, 5, 5, 500, exactly_once=True),
    "eos+maxwait0": candidate(10, 1, 5, 0, 100, exactly_once=True),
    "defaults": {},  # this commit's defaults, nothing set
    "defaults+sink_linger0": SINK_LINGER0,  # the sink's linger.ms 0 through kafka.extra only
    "defaults+inline": {"STREAMAPP_SCORING__SCORER_THREADS": "0"},  # route on the main loop
}


def _row(label: str, rate: str, cpu: str, light: Latency, loaded: Latency) -> str:
    """One markdown row: total, routed and hand-off percentiles per load (see ``Latency``)."""
    return (f"| {label} | {rate} | {cpu} | {_ms(light.total)} | {routed_ms(light)} "
            f"| {_ms(light.handoff, 2)} | {_ms(loaded.total)} | {routed_ms(loaded)} "
            f"| {_ms(loaded.handoff, 2)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--light-rate", type=float, default=5000.0)
    ap.add_argument("--half-rate", type=float, default=0.0)
    ap.add_argument("--latency-seconds", type=float, default=8.0)
    ap.add_argument("--only", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    ap.add_argument("--repeat", type=int, default=1, help="rounds over the candidates, interleaved")
    ap.add_argument("--floor", action="store_true", help="the broker floor before each round")
    args = ap.parse_args()
    print(f"machine: {machine()}", flush=True)
    libs = os.environ.get("STREAMAPP_BROKER__KAFKA_LIBS")
    settings = BrokerSettings(kind="kafka", kafka_libs=Path(libs) if libs else None)
    with embedded_broker(settings) as broker:
        bs = broker.bootstrap_servers
        topics = _topics("tune")
        ensure_topics({"bootstrap.servers": bs}, {t: 4 for t in topics.values()})
        _produce(bs, topics["events"], _events(args.events, 5, "e"))
        half = args.half_rate
        print("| setting | events/s | CPU µs/event | light p50 / p99 / p999 (ms) "
              "| light: to routed p50 / p99 | light: to hand-off p50 / p99 "
              "| half p50 / p99 / p999 (ms) | half: to routed p50 / p99 "
              "| half: to hand-off p50 / p99 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|",
              flush=True)
        for i, label in enumerate(args.only * args.repeat):
            env = CANDIDATES[label]
            r = bench_streamapp(bs, topics, args.events, label, env)
            half = half or round(r.rate / 2, -2)
            if args.floor and i % len(args.only) == 0:
                secs = args.latency_seconds
                print(_row("broker floor", "", "", latency_floor(bs, args.light_rate, secs),
                           latency_floor(bs, half, secs)), flush=True)
            light = latency_streamapp(bs, args.light_rate, args.latency_seconds, env)
            loaded = latency_streamapp(bs, half, args.latency_seconds, env)
            print(_row(label, f"{r.rate:,.0f}", f"{r.cpu_us_per_event:.1f}", light, loaded),
                  flush=True)
        print(f"light load {args.light_rate:,.0f}/s, half load {half:,.0f}/s")


if __name__ == "__main__":
    main()
