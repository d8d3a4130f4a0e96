"""Crayfish's feed-forward workload (issue 26): streamapp vs a raw relay, JSON arrays vs base64.

``python -m benchmarks.crayfish.run [--events 50000] [--latency-seconds 5]
[--rates 2048,512,4096] [--no-stages]``

One fresh local broker (Apache Kafka, as :mod:`benchmarks.scoring.run`), the FFN of
:mod:`benchmarks.crayfish.model` written as a registry version in a temporary directory,
and the same images as two event topics: JSON nested arrays and base64 float32. For each
encoding, on the same events: the raw relay (consume → orjson → produce, no model;
``benchmarks.scoring.variants``), one ``streamapp score`` process (defaults, then with
``scoring.fetch_queue_kbytes`` at librdkafka's own 64 MiB), and the worker's stages
called in one thread (:mod:`benchmarks.scoring.stages`, µs/event per stage). Then latency,
event produced → prediction consumed, at Crayfish's input rates and at half of streamapp's
measured maximum per encoding (the broker floor next to it). Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.crayfish.model import ENCODINGS, NAME, events, features, parameters, pixels
from benchmarks.crayfish.model import write_version as write_model
from benchmarks.scoring import stages as stages_mod
from benchmarks.scoring.latency import Latency, latency_floor, latency_streamapp
from benchmarks.scoring.run import (
    Result,
    _ms,
    _produce,
    _topics,
    bench_streamapp,
    bench_variant,
    kafka_version,
    machine,
)
from streamapp.brokers import embedded_broker
from streamapp.config import BrokerSettings
from streamapp.kafka.topics import ensure_topics

BIG_QUEUE = {"STREAMAPP_SCORING__FETCH_QUEUE_KBYTES": "65536"}
"""librdkafka's own default prefetch bound (streamapp's default: 16 MiB)."""
STAGE_KEYS = ("consume", "decode", "route", "score", "encode", "produce", "delivery")


def _stages_here(bootstrap: str, topics: dict[str, str], registry: str,
                 n: int) -> dict[str, float]:
    timers = stages_mod.stages(bootstrap, {k: topics[k] for k in (
        "events", "predictions", "prediction_log", "dead_letter")}, registry, n, 512)
    return timers.report()


def _stages(bootstrap: str, topics: dict[str, str], registry: str, n: int) -> dict[str, float]:
    """µs/event per stage of the worker's parts in one thread (a fresh group on ``topics``).

    In a spawned child: ``stages`` leaves its clients open, and a left-over librdkafka
    thread spun a core in this process for the rest of the run (2026-12-07).
    """
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_stages_here, bootstrap, topics, registry, n).result()


def render(rows: dict[str, dict[str, Any]], lat: dict[str, dict[float, Latency]],
           floor: dict[float, Latency], args: argparse.Namespace, where: str,
           broker: str, sizes: dict[str, float]) -> str:
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {where}.",
        f"Command: `python -m benchmarks.crayfish.run --events {args.events} "
        f"--latency-seconds {args.latency_seconds:g} --rates {args.rates}`; fresh {broker}, "
        f"4 partitions; model {NAME}/1: 784 → 35 → 10 (Crayfish's FFN), softmax, "
        f"{parameters():,} parameters, random seeded weights, ONNX opset 17 (ONNX Runtime, "
        "CPU); streamapp's client and batch defaults, at-least-once. Events: the same "
        "images per encoding, "
        + ", ".join(f"{e} ~{sizes[e] / 1000:.1f} KB" for e in sizes) + ".",
        "",
        "| encoding | path | events | events/s | vs relay (same events) | CPU µs/event "
        "| CPU (cores) | peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for enc, r in rows.items():
        relay: Result = r["relay"]
        for res in (relay, r["score"], r["queue"]):
            lines.append(f"| {enc} | {res.name} | {res.n:,} | {res.rate:,.0f} | "
                         f"{res.rate / relay.rate:.2f} | {res.cpu_us_per_event:.1f} | "
                         f"{res.cpu_cores:.2f} | {res.peak_rss_mb:.0f} |")
    if any("stages" in r for r in rows.values()):
        lines += ["", "Stages, µs/event (the worker's parts called in one thread, batches of "
                  "512, `benchmarks.scoring.stages`; wall time):", "",
                  "| encoding | " + " | ".join(STAGE_KEYS) + " | total | events/s |",
                  "|---|" + "---:|" * (len(STAGE_KEYS) + 2)]
        for enc, r in rows.items():
            if "stages" in r:
                st = r["stages"]
                total = st["stages_total_us_per_event"]
                lines.append(f"| {enc} | " + " | ".join(
                    f"{st[f'{k}_us_per_event']:.1f}" for k in STAGE_KEYS)
                    + f" | {total:.1f} | {1e6 / total:,.0f} |")
    rates = sorted({rate for by_rate in lat.values() for rate in by_rate})
    lines += ["", f"Latency, ms, event produced → prediction consumed (read_committed), "
              f"{args.latency_seconds:g} s per point; half = half of that encoding's measured "
              "maximum. p50 / p99 / p999:", "",
              "| offered events/s | broker floor (JSON events) | "
              + " | ".join(f"streamapp, {e}" for e in lat) + " |",
              "|---:|---:|" + "---:|" * len(lat)]
    for rate in rates:
        cells = [_ms(lat[e].get(rate).total) if rate in lat[e] else "—" for e in lat]
        fl = _ms(floor[rate].total) if rate in floor else "—"
        lines.append(f"| {rate:,.0f} | {fl} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--latency-seconds", type=float, default=5.0)
    ap.add_argument("--rates", default="2048,512,4096",
                    help="Crayfish's input rates, events/s (half of our maximum is added)")
    ap.add_argument("--no-stages", action="store_true")
    ap.add_argument("--no-latency", action="store_true")
    args = ap.parse_args()
    where = machine()
    libs = os.environ.get("STREAMAPP_BROKER__KAFKA_LIBS")
    settings = BrokerSettings(kind="kafka", kafka_libs=Path(libs) if libs else None)
    registry = Path(tempfile.mkdtemp(prefix="crayfish-reg-"))
    write_model(registry)
    model_env = {"STREAMAPP_MODEL__REGISTRY": str(registry), "STREAMAPP_MODEL__NAME": NAME}
    os.environ.update(model_env)  # the in-process stages read the served model from here
    rows: dict[str, dict[str, Any]] = {}
    sizes: dict[str, float] = {}
    lat: dict[str, dict[float, Latency]] = {}
    floor: dict[float, Latency] = {}
    with embedded_broker(settings) as broker:
        bs = broker.bootstrap_servers
        broker_name = f"Apache Kafka {kafka_version(settings)} (single node, KRaft)"
        for enc in ENCODINGS:
            topics = _topics(f"cf-{enc}")
            ensure_topics({"bootstrap.servers": bs}, {t: 4 for t in topics.values()})
            records = events(args.events, 5, "e", enc)
            sizes[enc] = sum(len(v) for _k, v in records) / len(records)
            _produce(bs, topics["events"], records)
            del records
            relay = bench_variant("relay", "raw relay (consume → orjson → produce)", bs,
                                  topics["events"], args.events)
            print(f"{enc}: relay {relay.rate:,.0f}/s", flush=True)
            score = bench_streamapp(bs, topics, args.events, "streamapp score", model_env)
            print(f"{enc}: streamapp {score.rate:,.0f}/s", flush=True)
            queue = bench_streamapp(bs, topics, args.events,
                                    "streamapp score, fetch_queue_kbytes 65536",
                                    {**model_env, **BIG_QUEUE})
            print(f"{enc}: streamapp, fetch queue 64 MiB {queue.rate:,.0f}/s", flush=True)
            rows[enc] = {"relay": relay, "score": score, "queue": queue}
            if not args.no_stages:
                rows[enc]["stages"] = _stages(bs, topics, str(registry), args.events)
                print(f"{enc}: stages {rows[enc]['stages']}", flush=True)
        if not args.no_latency:
            rates = [float(r) for r in args.rates.split(",")]
            images = pixels(500, 11)
            for enc in ENCODINGS:
                feats = [features(x, enc) for x in images]
                # half of our maximum, capped where the harness's own Python generator (on
                # the same cores) cannot offer it: half the relay's rate, at most 8,000/s
                half = round(min(rows[enc]["score"].rate, rows[enc]["relay"].rate, 16_000) / 2,
                             -2)
                lat[enc] = {}
                for rate in [*rates, half]:
                    lat[enc][rate] = latency_streamapp(bs, rate, args.latency_seconds,
                                                       model_env, feats)
                    print(f"{enc} @ {rate:,.0f}/s: {_ms(lat[enc][rate].total)}", flush=True)
            json_feats = [features(x, "json") for x in images]
            for rate in sorted({r for by_rate in lat.values() for r in by_rate}):
                floor[rate] = latency_floor(bs, rate, args.latency_seconds, json_feats)
    print(render(rows, lat, floor, args, where, broker_name, sizes))


if __name__ == "__main__":
    main()
