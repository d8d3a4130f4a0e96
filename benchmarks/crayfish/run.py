"""The Crayfish workloads (issue 26) through Kafka: streamapp vs a raw relay on the same events.

``python -m benchmarks.crayfish.run [--workloads ffn,cnn,text] [--events 50000]
[--cnn-events 3000] [--cnn-size 64] [--text-events 5000] [--latency-seconds 5]
[--rates 2048,512,4096] [--no-stages] [--no-latency]`` (default: ``--workloads ffn``)

**ffn** (Crayfish's feed-forward net, JSON arrays vs base64):

One fresh local broker (Apache Kafka, as :mod:`benchmarks.scoring.run`), the FFN of
:mod:`benchmarks.crayfish.model` written as a registry version in a temporary directory,
and the same images as two event topics: JSON nested arrays and base64 float32. For each
encoding, on the same events: the raw relay (consume → orjson → produce, no model;
``benchmarks.scoring.variants``), one ``streamapp score`` process (defaults, then with
``scoring.fetch_queue_kbytes`` at librdkafka's own 64 MiB), and the worker's stages
called in one thread (:mod:`benchmarks.scoring.stages`, µs/event per stage). Then latency,
event produced → prediction consumed, at Crayfish's input rates and at half of streamapp's
measured maximum per encoding (the broker floor next to it). Prints a Markdown section.

**cnn** (a ResNet-50 on PNG bytes, ``DecodeImages``, ONNX) and **text** (a 4-layer
transformer behind ``Tokenize`` on messages of mixed lengths, length buckets against
``pad_to: "batch"``): on the same broker, the raw relay and one ``streamapp score`` process
per path on the same events, then latency of each path, the relay and the broker floor at
rates this machine sustains (:func:`latency_rates`: at most half of the measured maximum).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.crayfish.model import (
    CNN_NAME,
    ENCODINGS,
    NAME,
    TEXT_BUCKETS,
    TEXT_NAME,
    cnn_parameters,
    events,
    features,
    image_features,
    keyed,
    parameters,
    pixels,
    png_images,
    text_parameters,
    texts,
    write_cnn_version,
    write_text_versions,
)
from benchmarks.crayfish.model import write_version as write_model
from benchmarks.scoring import stages as stages_mod
from benchmarks.scoring.latency import (
    Latency,
    latency_floor,
    latency_streamapp,
    latency_variant,
)
from benchmarks.scoring.run import (
    Result,
    _ms,
    _produce,
    _topics,
    bench_streamapp,
    bench_variant,
    kafka_version,
    machine,
    routed_ms,
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
        cells = [_ms(lat[e][rate].total) if rate in lat[e] else "—" for e in lat]
        fl = _ms(floor[rate].total) if rate in floor else "—"
        lines.append(f"| {rate:,.0f} | {fl} | " + " | ".join(cells) + " |")
    lines += ["", "Where the latency goes, p50 / p99 ms from the event's time: *to routed* = to "
              "the prediction's `scored_time` (fetch, decode, wait for a scorer thread: routing "
              "begins), *to hand-off* = to the output record's timestamp (scoring, encoding, "
              "the producer call); the rest of the total is the producer → broker → reader hop "
              "(the broker floor measures that hop alone):", "",
              "| offered events/s | encoding | to routed | to hand-off | total |",
              "|---:|---|---:|---:|---:|"]
    for rate in rates:
        for e in lat:
            if rate in lat[e]:
                point = lat[e][rate]
                lines.append(f"| {rate:,.0f} | {e} | {routed_ms(point)} | "
                             f"{_ms(point.handoff, 2)} | {_ms(point.total, 2)} |")
    return "\n".join(lines) + "\n"


def _throughput(bs: str, prefix: str, records: list[tuple[bytes, bytes]],
                paths: dict[str, dict[str, str]]) -> tuple[dict[str, str], dict[str, Result]]:
    """Produce ``records`` to a fresh events topic, then read them all with the raw relay
    (``"relay"``) and with one ``streamapp score`` process per entry of ``paths`` (label →
    its settings; each a new group on the same events). Returns (topics, results)."""
    topics = _topics(prefix)
    ensure_topics({"bootstrap.servers": bs}, {t: 4 for t in topics.values()})
    _produce(bs, topics["events"], records)
    n = len(records)
    results = {"relay": bench_variant("relay", "raw relay (consume → orjson → produce)", bs,
                                      topics["events"], n)}
    print(f"{prefix}: relay {results['relay'].rate:,.0f}/s", flush=True)
    for label, env in paths.items():
        results[label] = bench_streamapp(bs, topics, n, label, env)
        print(f"{prefix}: {label} {results[label].rate:,.0f}/s", flush=True)
    return topics, results


def run_ffn(bs: str, args: argparse.Namespace, registry: Path, where: str,
            broker_name: str) -> str:
    """The feed-forward workload: JSON arrays and base64 tensors (the section above)."""
    write_model(registry)
    model_env = {"STREAMAPP_MODEL__REGISTRY": str(registry), "STREAMAPP_MODEL__NAME": NAME}
    os.environ.update(model_env)  # the in-process stages read the served model from here
    rows: dict[str, dict[str, Any]] = {}
    sizes: dict[str, float] = {}
    lat: dict[str, dict[float, Latency]] = {}
    floor: dict[float, Latency] = {}
    for enc in ENCODINGS:
        records = events(args.events, 5, "e", enc)
        sizes[enc] = sum(len(v) for _k, v in records) / len(records)
        topics, res = _throughput(bs, f"cf-{enc}", records, {
            "streamapp score": model_env,
            "streamapp score, fetch_queue_kbytes 65536": {**model_env, **BIG_QUEUE}})
        del records
        rows[enc] = {"relay": res["relay"], "score": res["streamapp score"],
                     "queue": res["streamapp score, fetch_queue_kbytes 65536"]}
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
    return render(rows, lat, floor, args, where, broker_name, sizes)


@dataclass
class Workload:
    """A tensor workload through Kafka: its events and the streamapp paths that score them."""

    key: str
    title: str
    model: str
    """What the model is and how it is registered (one sentence for the section)."""
    records: list[tuple[bytes, bytes]]
    feats: list[dict[str, object]]
    """``features`` objects the latency generator cycles through."""
    paths: dict[str, dict[str, str]]
    """streamapp path label → its settings (model name, registry)."""
    events_note: str


def latency_rates(results: dict[str, Result], crayfish: list[float]) -> list[float]:
    """Offered rates this machine sustains: half of each streamapp path's measured maximum,
    a quarter of the best one, and Crayfish's rates that are at most the best half; values
    within 20 % of a larger one are dropped. Ours rounded to 2 significant digits.

    >>> r = {"relay": Result("relay", 100, 1.0), "a": Result("a", 200, 1.0),
    ...      "b": Result("b", 60, 1.0)}
    >>> latency_rates(r, [512.0, 2048.0])
    [30.0, 50.0, 100.0]
    >>> latency_rates({"a": Result("a", 1100, 1.0)}, [512.0, 2048.0])
    [280.0, 550.0]
    """
    halves = [res.rate / 2 for label, res in results.items() if label != "relay"]
    best = max(halves)
    wanted = sorted({*(float(f"{r:.2g}") for r in (*halves, best / 2) if r > 0),
                     *(r for r in crayfish if r <= best)}, reverse=True)
    kept: list[float] = []
    for rate in wanted:
        if not kept or rate < kept[-1] / 1.2:
            kept.append(rate)
    return sorted(kept)


def run_tensor(bs: str, w: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """Throughput of the relay and each streamapp path on ``w``'s events, then latency of
    each (and the broker floor) at :func:`latency_rates`."""
    _topics_used, res = _throughput(bs, f"cf-{w.key}", w.records, w.paths)
    size = sum(len(v) for _k, v in w.records) / len(w.records)
    lat: dict[str, dict[float, Latency]] = {}
    rates: list[float] = []
    if not args.no_latency:
        rates = latency_rates(res, [float(r) for r in args.rates.split(",")])
        secs = args.latency_seconds
        for rate in rates:
            point = {"broker floor": latency_floor(bs, rate, secs, w.feats),
                     "raw relay": latency_variant("relay", bs, rate, secs, w.feats)}
            for label, env in w.paths.items():
                point[label] = latency_streamapp(bs, rate, secs, env, w.feats)
            for label, value in point.items():
                lat.setdefault(label, {})[rate] = value
                print(f"{w.key} @ {rate:,.0f}/s {label}: {_ms(value.total)}", flush=True)
    return {"results": res, "latency": lat, "rates": rates, "size": size}


def render_tensor(w: Workload, out: dict[str, Any], args: argparse.Namespace) -> str:
    res: dict[str, Result] = out["results"]
    relay = res["relay"]
    lines = [f"#### {w.title}", "", f"{w.model} {w.events_note} Events: {relay.n:,}, "
             f"~{out['size'] / 1000:.1f} KB each.", "",
             "| path | events | events/s | vs relay (same events) | CPU µs/event | CPU (cores) "
             "| peak RSS (MB) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in res.values():
        lines.append(f"| {r.name} | {r.n:,} | {r.rate:,.1f} | {r.rate / relay.rate:.3f} | "
                     f"{r.cpu_us_per_event:,.0f} | {r.cpu_cores:.2f} | {r.peak_rss_mb:.0f} |")
    if out["latency"]:
        lat = out["latency"]
        lines += ["", f"Latency, ms, event produced → prediction consumed (read_committed), "
                  f"{args.latency_seconds:g} s per point. p50 / p99 / p999:", "",
                  "| offered events/s | " + " | ".join(lat) + " |",
                  "|---:|" + "---:|" * len(lat)]
        for rate in out["rates"]:
            lines.append(f"| {rate:,.0f} | " + " | ".join(
                _ms(lat[label][rate].total) for label in lat) + " |")
    return "\n".join(lines) + "\n"


def cnn_workload(args: argparse.Namespace, registry: Path) -> Workload:
    size = args.cnn_size
    write_cnn_version(registry, size)
    env = {"STREAMAPP_MODEL__REGISTRY": str(registry), "STREAMAPP_MODEL__NAME": CNN_NAME}
    pngs = png_images(64, 21, size)
    feats = [image_features(p) for p in pngs]
    records = keyed([feats[i % len(feats)] for i in range(args.cnn_events)], "c")
    return Workload(
        "cnn", f"ResNet-50 on PNG bytes, {size}x{size} RGB",
        f"Model {CNN_NAME}/1: ResNet-50 (`benchmarks.gpu.models.resnet50`, "
        f"{cnn_parameters():,} parameters, 1,000 classes, softmax; random seeded weights), "
        f"ONNX opset 17 on ONNX Runtime (CPU), registered with `register` behind "
        f"`DecodeImages` (size [{size}, {size}], RGB, ImageNet normalisation).",
        records, feats, {"streamapp score": env},
        f"Each event carries one {size}x{size} RGB PNG of seeded noise (the largest PNG of "
        "its size) as base64, 64 distinct images cycled.")


def text_workload(args: argparse.Namespace, registry: Path) -> Workload:
    names, vocab = write_text_versions(registry)
    envs = {f"streamapp score, {'length buckets' if pad == 'bucket' else 'pad_to batch'}":
            {"STREAMAPP_MODEL__REGISTRY": str(registry), "STREAMAPP_MODEL__NAME": name}
            for pad, name in names.items()}
    messages = texts(args.text_events, 7)
    feats: list[dict[str, object]] = [{"message": m} for m in messages]
    words = np.array([len(m.split()) for m in messages])
    return Workload(
        "text", "Transformer text classifier on mixed lengths: length buckets vs pad_to batch",
        f"Models {TEXT_NAME}/1 and {TEXT_NAME}-batchpad/1: the transformer classifier of "
        f"`benchmarks.gpu.models` (4 layers, d_model 256, 4 heads, {text_parameters(vocab):,} "
        "parameters, 2 classes; random seeded weights), TorchScript (scripted by `register`) "
        "on the torch runtime, behind `Tokenize` (max_tokens 256, a WordPiece tokenizer "
        f"trained with `train_tokenizer` on 2,000 generated messages, vocabulary {vocab:,}): "
        f"buckets {TEXT_BUCKETS} against `pad_to: \"batch\"` (one bucket, the batch's longest).",
        keyed(feats, "t"), feats, envs,
        "Each event carries one generated message (the template messages of "
        "`models.tensor_examples` run together), its word count drawn log-normal around 24 "
        f"(8-256): median {np.median(words):.0f}, mean {words.mean():.1f}, p99 "
        f"{np.percentile(words, 99):.0f} words; one token per word plus [CLS] and [SEP].")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workloads", default="ffn",
                    help="comma-separated, in one run on one broker: ffn, cnn, text")
    ap.add_argument("--events", type=int, default=50_000, help="FFN events per encoding")
    ap.add_argument("--cnn-events", type=int, default=3_000)
    ap.add_argument("--cnn-size", type=int, default=64,
                    help="image side in pixels (224: ResNet-50's own; slow on 2 cores)")
    ap.add_argument("--text-events", type=int, default=5_000)
    ap.add_argument("--latency-seconds", type=float, default=5.0)
    ap.add_argument("--rates", default="2048,512,4096",
                    help="Crayfish's input rates, events/s (half of our maximum is added)")
    ap.add_argument("--no-stages", action="store_true")
    ap.add_argument("--no-latency", action="store_true")
    args = ap.parse_args()
    workloads = args.workloads.split(",")
    unknown = set(workloads) - {"ffn", "cnn", "text"}
    if unknown:
        ap.error(f"unknown workloads {sorted(unknown)}: pick from ffn, cnn, text")
    where = machine()
    libs = os.environ.get("STREAMAPP_BROKER__KAFKA_LIBS")
    settings = BrokerSettings(kind="kafka", kafka_libs=Path(libs) if libs else None)
    registry = Path(tempfile.mkdtemp(prefix="crayfish-reg-"))
    sections: list[str] = []
    started = datetime.now(UTC)
    with embedded_broker(settings) as broker:
        bs = broker.bootstrap_servers
        broker_name = f"Apache Kafka {kafka_version(settings)} (single node, KRaft)"
        if "ffn" in workloads:
            sections.append(run_ffn(bs, args, registry, where, broker_name))
        tensor = [w for w in workloads if w != "ffn"]
        if tensor:
            command = "python -m benchmarks.crayfish.run " + " ".join(sys.argv[1:])
            sections.append(
                f"Measured {started:%Y-%m-%d %H:%M}-{{end}} UTC on {where}.\n"
                f"Command: `{command}`; fresh {broker_name}, 4 partitions; streamapp's "
                "client and batch defaults (2 scorer threads, 1 intra-op thread each), "
                "at-least-once, one `streamapp score` process per row.\n")
        for key in tensor:
            w = (cnn_workload if key == "cnn" else text_workload)(args, registry)
            out = run_tensor(bs, w, args)
            sections.append(render_tensor(w, out, args))
    text = "\n".join(sections).replace("{end}", f"{datetime.now(UTC):%H:%M}")
    print(text)


if __name__ == "__main__":
    main()
