"""Client-default tuning: one streamapp worker's throughput and latency per setting.

``python -m benchmarks.scoring.tune [--events 100000] [--half-rate R] [--only LABEL ...]``

One fresh Apache Kafka broker and the same pre-produced events. Each candidate (every
tuned value set explicitly through ``STREAMAPP_*``) runs three times in a
fresh worker: throughput over the pre-produced events, then latency (event produced →
prediction consumed, read_committed) at the light load and at ``--half-rate``
(default: half of the first candidate's throughput). Prints a markdown table.
``--repeat`` interleaves rounds, so that a change in the machine's load hits every candidate.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from benchmarks.scoring.latency import latency_streamapp
from benchmarks.scoring.run import (
    EXACTLY_ONCE,
    _events,
    _ms,
    _produce,
    _topics,
    bench_streamapp,
    machine,
)
from streamapp.config import BrokerSettings
from streamapp.kafka.embedded import embedded_broker
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
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--light-rate", type=float, default=5000.0)
    ap.add_argument("--half-rate", type=float, default=0.0)
    ap.add_argument("--latency-seconds", type=float, default=8.0)
    ap.add_argument("--only", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    ap.add_argument("--repeat", type=int, default=1, help="rounds over the candidates, interleaved")
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
              "| half p50 / p99 / p999 (ms) |\n|---|---:|---:|---:|---:|", flush=True)
        for label in args.only * args.repeat:
            env = CANDIDATES[label]
            r = bench_streamapp(bs, topics, args.events, label, env)
            half = half or round(r.rate / 2, -2)
            light = latency_streamapp(bs, args.light_rate, args.latency_seconds, env)
            loaded = latency_streamapp(bs, half, args.latency_seconds, env)
            print(f"| {label} | {r.rate:,.0f} | {r.cpu_us_per_event:.1f} | {_ms(light)} "
                  f"| {_ms(loaded)} |", flush=True)
        print(f"light load {args.light_rate:,.0f}/s, half load {half:,.0f}/s")


if __name__ == "__main__":
    main()
