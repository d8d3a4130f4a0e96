"""Memory under 10x overload with 8 KB events (issue 26's memory goal).

``python -m benchmarks.crayfish.overload [--factor 10] [--seconds 60] [--hidden 4096]
[--env NAME=VALUE ...]``

One fresh local broker (Apache Kafka), one ``streamapp score`` process with its default
memory bounds (``scoring.max_inflight_events``, ``max_inflight_bytes``,
``max_batch_bytes``, ``fetch_queue_kbytes``) and a deliberately slow tensor model:
Crayfish's 28x28 pixels as JSON arrays with 7 decimals (~8 KB per event), through a wide
feed-forward net (784 → ``hidden`` → ``hidden`` → 10, ONNX, seeded random weights) so that
its capacity is a few thousand events/s at most and 10x that is within what one Python
producer offers on 2 cores.

1. *Capacity*: the worker drains a pre-produced calibration backlog; events/s.
2. *Overload*: a paced producer offers ``factor`` x capacity for ``seconds``, while the
   worker's RSS (psutil, every 50 ms), in-flight events and bytes and paused partitions (its
   ``/metrics``, every 0.5 s) are sampled.
3. *Drain*: the backlog is scored to the end; every event must come out (predictions plus
   dead letters), and the run says how long that took.

Prints a Markdown section: RSS baseline / peak / growth against the bound the settings
imply, the in-flight maxima, pauses, drain time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
from confluent_kafka import Producer

from benchmarks.crayfish.model import SHAPE, pixels
from benchmarks.scoring.run import (
    Sampler,
    _metrics,
    _produce,
    _start_streamapp,
    _topics,
    kafka_version,
    machine,
)
from streamapp.brokers import embedded_broker
from streamapp.config import BrokerSettings
from streamapp.kafka.topics import ensure_topics
from streamapp.settings.scoring import ScoringSettings

NAME = "crayfish-slow-ffn"
PARTITIONS = 4


def write_slow_version(registry: Path, hidden: int) -> None:
    """A wide FFN (784 → hidden → hidden → 10, softmax) as ONNX, registered as production."""
    import torch
    from torch import nn

    from streamapp.registration import register

    torch.manual_seed(26)
    net = nn.Sequential(nn.Flatten(1), nn.Linear(784, hidden), nn.ReLU(),
                        nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10),
                        nn.Softmax(dim=1)).eval()
    with tempfile.TemporaryDirectory(prefix="overload-onnx-") as tmp:
        path = Path(tmp) / "slow.onnx"
        torch.onnx.export(net, (torch.zeros(1, *SHAPE),), str(path), input_names=["pixels"],
                          output_names=["probs"], opset_version=17, dynamo=False,
                          dynamic_axes={"pixels": {0: "batch"}, "probs": {0: "batch"}})
        register(path, {"pixels": pixels(500, 0)}, name=NAME, registry=registry,
                 classes=list(range(10)), output="probs", drift_target=None)


def images(n: int, seed: int) -> list[dict[str, object]]:
    """``n`` events' features: Crayfish's 28x28 pixels as JSON arrays of uniform [0, 1)
    values with 7 decimals, ~7.9 KB per event (Crayfish's own 6 decimals: 6.9 KB)."""
    rng = np.random.default_rng(seed)
    return [{"pixels": np.round(x, 7).tolist()} for x in rng.random((n, *SHAPE))]


class PacedProducer(threading.Thread):
    """Offers ``rate`` events/s for ``seconds`` (~8 KB JSON events, 500 images cycled)."""

    def __init__(self, bootstrap: str, topic: str, rate: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.topic, self.rate, self.seconds = topic, rate, seconds
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                                  "queue.buffering.max.kbytes": 262144})
        self.bodies = [orjson.dumps(f) for f in images(500, 7)]
        self.sent = 0
        self.bytes = 0
        self.finished_at = 0.0

    def run(self) -> None:
        total = int(self.rate * self.seconds)
        t0 = time.monotonic()
        while self.sent < total:
            due = min(total, int((time.monotonic() - t0) * self.rate))
            now = datetime.now(UTC).isoformat().encode()
            for i in range(self.sent, due):
                eid = f"o{i}".encode()
                value = b'{"event_id":"%s","event_time":"%s","features":%s}' % (
                    eid, now, self.bodies[i % len(self.bodies)])
                while True:
                    try:
                        self.producer.produce(self.topic, value, eid)
                        break
                    except BufferError:
                        self.producer.poll(0.05)
                self.bytes += len(value)
            self.sent = due
            self.producer.poll(0)
            time.sleep(0.005)
        self.producer.flush(120)
        self.finished_at = time.monotonic()


def _scored(port: int) -> float:
    predicted, dead = _metrics(port, "streamapp_predictions_total", "streamapp_dead_letter_total")
    return predicted + dead


def run(bs: str, args: argparse.Namespace, registry: Path) -> dict[str, Any]:
    """Capacity, then ``args.factor`` x capacity for ``args.seconds``, then the drain."""
    topics = _topics("overload")
    ensure_topics({"bootstrap.servers": bs}, {t: PARTITIONS for t in topics.values()})
    env = {"STREAMAPP_MODEL__REGISTRY": str(registry), "STREAMAPP_MODEL__NAME": NAME,
           **dict(kv.split("=", 1) for kv in args.env)}
    calib = [(f"c{i}".encode(), orjson.dumps({
        "event_id": f"c{i}", "event_time": datetime.now(UTC).isoformat(),
        "features": f})) for i, f in enumerate(images(args.calibration, 3))]
    event_bytes = float(np.mean([len(v) for _k, v in calib]))
    proc, port = _start_streamapp(bs, topics, env=env)
    worker = psutil.Process(proc.pid)
    try:
        time.sleep(2.0)  # the model's first calls (ONNX Runtime's arena) before the baseline
        baseline = worker.memory_info().rss
        _produce(bs, topics["events"], calib)
        t0 = time.monotonic()
        while _scored(port) < len(calib):
            time.sleep(0.1)
        capacity = len(calib) / (time.monotonic() - t0)
        baseline = max(baseline, worker.memory_info().rss)  # after the model's steady state
        print(f"capacity {capacity:,.0f} events/s, baseline RSS {baseline / 2**20:.0f} MB",
              flush=True)
        rate = args.factor * capacity
        producer = PacedProducer(bs, topics["events"], rate, args.seconds)
        sampler = Sampler(proc.pid).start()
        started = time.monotonic()
        producer.start()
        inflight = inflight_bytes = paused = 0.0
        while producer.is_alive():
            ev, by, pa = _metrics(port, "streamapp_inflight_events", "streamapp_inflight_bytes",
                                  "streamapp_paused_partitions")
            inflight, inflight_bytes, paused = (max(inflight, ev), max(inflight_bytes, by),
                                                max(paused, pa))
            time.sleep(0.5)
        offered_s = producer.finished_at - started
        target = len(calib) + producer.sent
        deadline = time.monotonic() + producer.sent / capacity * 3 + 120
        while _scored(port) < target and time.monotonic() < deadline:
            time.sleep(0.2)
        drained = _scored(port) >= target
        drain_s = time.monotonic() - producer.finished_at
        sampler.stop()
        peak = max((s[2] for s in sampler.samples), default=float("nan"))
        pauses, = _metrics(port, "streamapp_backpressure_pauses_total")
    finally:
        proc.terminate()
        proc.wait(30)
    s = ScoringSettings()
    bound = (PARTITIONS * s.fetch_queue_kbytes * 1024 + s.max_inflight_bytes
             + s.scorer_threads * s.max_batch_bytes)
    return {"event_bytes": event_bytes, "capacity": capacity, "rate": rate,
            "offered": producer.sent, "offered_mb": producer.bytes / 2**20,
            "offered_s": offered_s, "baseline_mb": baseline / 2**20, "peak_mb": peak / 2**20,
            "growth_mb": (peak - baseline) / 2**20, "bound_mb": bound / 2**20,
            "inflight": inflight, "inflight_mb": inflight_bytes / 2**20, "paused": paused,
            "pauses": pauses, "drained": drained, "drain_s": drain_s}


def render(r: dict[str, Any], args: argparse.Namespace, where: str, broker: str,
           started: datetime) -> str:
    s = ScoringSettings()
    command = "python -m benchmarks.crayfish.overload " + " ".join(sys.argv[1:])
    return "\n".join([
        f"Measured {started:%Y-%m-%d %H:%M}-{datetime.now(UTC):%H:%M} UTC on {where}.",
        f"Command: `{command}`; fresh {broker}, {PARTITIONS} partitions; one `streamapp score` "
        f"process with its default bounds (max_inflight_events {s.max_inflight_events:,}, "
        f"max_inflight_bytes {s.max_inflight_bytes / 2**20:.0f} MiB, max_batch_bytes "
        f"{s.max_batch_bytes / 2**20:.0f} MiB, fetch_queue_kbytes {s.fetch_queue_kbytes:,} per "
        f"partition, {s.scorer_threads} scorer threads); model 784 → {args.hidden} → "
        f"{args.hidden} → 10 (ONNX).",
        "",
        "| event size | capacity | offered | RSS baseline | RSS peak | growth | "
        "queues the settings bound | max in flight | max paused partitions | pauses | drain |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['event_bytes'] / 1024:.1f} KB | {r['capacity']:,.0f} ev/s | "
        f"{r['rate']:,.0f} ev/s ({args.factor:g}x) for {r['offered_s']:.0f} s "
        f"({r['offered']:,} events, {r['offered_mb']:,.0f} MB) | {r['baseline_mb']:,.0f} MB | "
        f"{r['peak_mb']:,.0f} MB | **+{r['growth_mb']:,.0f} MB** | {r['bound_mb']:,.0f} MB | "
        f"{r['inflight']:,.0f} events, {r['inflight_mb']:.1f} MB | {r['paused']:.0f} | "
        f"{r['pauses']:.0f} | {'all scored' if r['drained'] else 'NOT drained'} in "
        f"{r['drain_s']:.0f} s |",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--factor", type=float, default=10.0, help="offered load / capacity")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the overload lasts")
    ap.add_argument("--hidden", type=int, default=4096, help="width of the slow model")
    ap.add_argument("--calibration", type=int, default=2000, help="events to time capacity")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment of the worker (a setting, MALLOC_ARENA_MAX, ...)")
    args = ap.parse_args()
    libs = os.environ.get("STREAMAPP_BROKER__KAFKA_LIBS")
    settings = BrokerSettings(kind="kafka", kafka_libs=Path(libs) if libs else None)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="overload-reg-") as tmp, \
            embedded_broker(settings) as broker:
        registry = Path(tmp)
        write_slow_version(registry, args.hidden)
        result = run(broker.bootstrap_servers, args, registry)
        name = f"Apache Kafka {kafka_version(settings)} (single node, KRaft)"
    print(render(result, args, machine(), name, started))


if __name__ == "__main__":
    main()
