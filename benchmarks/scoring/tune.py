"""Client-default tuning: one streamapp worker's throughput and latency per setting.

``python -m benchmarks.scoring.tune [--events 100000] [--half-rate R] [--only LABEL ...]``

One fresh Apache Kafka broker and the same pre-produced events. Each candidate (a set
of ``STREAMAPP_*`` overrides on top of this commit's defaults) runs three times in a
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


def _s(**kw: object) -> dict[str, str]:
    """Scoring overrides as env: ``_s(max_wait_ms=5)`` → ``STREAMAPP_SCORING__MAX_WAIT_MS``."""
    return {f"STREAMAPP_SCORING__{k.upper()}": str(v) for k, v in kw.items()}


def _p(**kw: object) -> dict[str, str]:
    """Producer overrides through ``kafka.extra``: ``_p(linger_ms=1)`` → ``linger.ms``."""
    return {"STREAMAPP_KAFKA__EXTRA": json.dumps({k.replace("_", "."): str(v)
                                                  for k, v in kw.items()})}


INFLIGHT5 = {"max_in_flight_requests_per_connection": 5}

CANDIDATES: dict[str, dict[str, str]] = {
    "in-flight 5": _p(**INFLIGHT5),
    "in-flight 5, max_wait 5": {**_s(max_wait_ms=5), **_p(**INFLIGHT5)},
    "in-flight 5, max_wait 5, linger 1": {**_s(max_wait_ms=5), **_p(linger_ms=1, **INFLIGHT5)},
    "in-flight 5, max_wait 5, linger 1, commit 1000": {
        **_s(max_wait_ms=5, commit_interval_ms=1000), **_p(linger_ms=1, **INFLIGHT5)},
    "defaults": {},
    "max_wait 5": _s(max_wait_ms=5),
    "max_wait 5, linger 1": {**_s(max_wait_ms=5), **_p(linger_ms=1)},
    "max_wait 5, linger 0": {**_s(max_wait_ms=5), **_p(linger_ms=0)},
    "max_wait 2, linger 1": {**_s(max_wait_ms=2), **_p(linger_ms=1)},
    "max_wait 5, linger 1, fetch_wait 100": {**_s(max_wait_ms=5, fetch_wait_max_ms=100),
                                             **_p(linger_ms=1)},
    "max_wait 5, linger 1, batch.num.messages 1000": {
        **_s(max_wait_ms=5), **_p(linger_ms=1, batch_num_messages=1000)},
    "commit 1000": _s(commit_interval_ms=1000),
    "max_wait 5, linger 1, commit 1000": {**_s(max_wait_ms=5, commit_interval_ms=1000),
                                          **_p(linger_ms=1)},
    "EOS, commit 100": EXACTLY_ONCE,
    "EOS, commit 50": {**EXACTLY_ONCE, **_s(commit_interval_ms=50)},
    "EOS, commit 250": {**EXACTLY_ONCE, **_s(commit_interval_ms=250)},
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
