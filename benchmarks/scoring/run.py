"""Scoring benchmark: streamapp score vs raw relay, a faust per-event agent, a per-message loop.

``python -m benchmarks.scoring.run [--events 300000] [--small 20000] [--write-readme]``

One fresh embedded broker, the same pre-produced Agrawal events and the same
demo model (agrawal-clf/1, ONNX, CPU) for every variant. Each variant runs in
its own process (CPU and peak RSS are that process's). Throughput: events from
the first consumed to the last output acknowledged. Latency: event time → output
consumed, at a fixed offered load of about half streamapp's measured maximum.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
from confluent_kafka import Producer

from benchmarks.scoring.latency import latency_streamapp, latency_variant
from streamapp.kafka.embedded import EmbeddedBroker, free_port
from streamapp.kafka.topics import ensure_topics
from streamapp.training.synthetic import agrawal

REPO = Path(__file__).resolve().parents[2]
README = REPO / "benchmarks" / "README.md"


@dataclass
class Result:
    name: str
    n: int = 0
    seconds: float = 0.0
    cpu_cores: float = 0.0
    peak_rss_mb: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0


@dataclass
class Sampler:
    """Samples a process's CPU time and RSS every 50 ms in a thread."""

    pid: int
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Sampler:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        proc = psutil.Process(self.pid)
        while not self._stop.wait(0.05):
            try:
                cpu = proc.cpu_times()
                self.samples.append((time.time(), cpu.user + cpu.system, proc.memory_info().rss))
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop.set()

    def between(self, t0: float, t1: float) -> tuple[float, float]:
        """(CPU cores used on average, peak RSS MB) between two wall-clock times."""
        inside = [s for s in self.samples if t0 - 0.05 <= s[0] <= t1 + 0.05] or self.samples[-2:]
        cores = (inside[-1][1] - inside[0][1]) / max(inside[-1][0] - inside[0][0], 1e-9)
        return cores, max(s[2] for s in self.samples) / 2**20


def _events(n: int, seed: int, prefix: str) -> list[tuple[bytes, bytes]]:
    now = datetime.now(UTC).isoformat()
    return [
        (f"{prefix}{i}".encode(),
         orjson.dumps({"event_id": f"{prefix}{i}", "event_time": now, "features": x}))
        for i, (x, _y) in enumerate(agrawal(n, seed))
    ]


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "queue.buffering.max.messages": 2_000_000})
    for key, value in records:
        producer.produce(topic, value, key)
        producer.poll(0)
    producer.flush(120)


def _topics(prefix: str) -> dict[str, str]:
    return {"events": f"{prefix}.events", "predictions": f"{prefix}.predictions",
            "prediction_log": f"{prefix}.log", "dead_letter": f"{prefix}.dlq",
            "labels": f"{prefix}.labels", "retrain_requests": f"{prefix}.retrain",
            "monitoring_summaries": f"{prefix}.summaries", "joined_outcomes": f"{prefix}.joined"}


def _streamapp_env(bootstrap: str, topics: dict[str, str], port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update({f"STREAMAPP_TOPICS__{k.upper()}": v for k, v in topics.items()})
    env.update({
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "STREAMAPP_SCORING__GROUP_ID": f"bench-{uuid.uuid4().hex[:6]}",
        "STREAMAPP_SCORING__SESSION_TIMEOUT_MS": "6000",
        "STREAMAPP_HTTP__PORT": str(port),
        "STREAMAPP_LOG__LEVEL": "WARNING",
    })
    return env


def _metrics(port: int, *names: str) -> list[float]:
    """Sum of each named sample family, from one scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        lines = resp.read().decode().splitlines()
    return [
        sum(float(line.rsplit(" ", 1)[1]) for line in lines if re.match(rf"{name}(\{{| )", line))
        for name in names
    ]


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _start_streamapp(
    bootstrap: str, topics: dict[str, str], group: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = _streamapp_env(bootstrap, topics, port)
    if group:
        env["STREAMAPP_SCORING__GROUP_ID"] = group
    proc = subprocess.Popen([sys.executable, "-m", "streamapp", "score"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not _ready(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError("streamapp score did not become ready")
        time.sleep(0.1)
    return proc, port


def bench_streamapp(bootstrap: str, topics: dict[str, str], n: int) -> Result:
    proc, port = _start_streamapp(bootstrap, topics)
    sampler = Sampler(proc.pid).start()
    first = last = 0.0
    try:
        while True:
            consumed, predicted, dead = _metrics(
                port, "streamapp_events_consumed_total", "streamapp_predictions_total",
                "streamapp_dead_letter_total")
            now = time.time()
            if consumed and not first:
                first = now - 0.05  # polled every 0.1 s: the first fetch was ~half a tick ago
            if predicted + dead >= n:
                last = now - 0.05
                break
            time.sleep(0.1)
        cores, rss = sampler.between(first, last)
    finally:
        sampler.stop()
        proc.terminate()
        proc.wait(30)
    return Result("streamapp score (defaults)", n, last - first, cores, rss,
                  note="also writes the 20 % prediction-log sample + 5 % holdout")


def bench_two_workers(bootstrap: str, n: int) -> Result:
    """Two ``streamapp score`` processes in one group, started together on pre-produced events."""
    topics = _topics(f"two-{uuid.uuid4().hex[:4]}")
    ensure_topics({"bootstrap.servers": bootstrap}, {t: 4 for t in topics.values()})
    _produce(bootstrap, topics["events"], _events(n, 6, "t"))
    group = f"bench-two-{uuid.uuid4().hex[:4]}"
    with ThreadPoolExecutor(2) as pool:  # start both at once: they join in one rebalance
        procs = list(pool.map(lambda _i: _start_streamapp(bootstrap, topics, group), range(2)))
    samplers = [Sampler(p.pid).start() for p, _port in procs]
    first = last = 0.0
    shares: list[float] = []
    try:
        while True:
            totals = [_metrics(port, "streamapp_events_consumed_total",
                               "streamapp_predictions_total") for _p, port in procs]
            now = time.time()
            if sum(t[0] for t in totals) and not first:
                first = now - 0.05
            if sum(t[1] for t in totals) >= n:
                last = now - 0.05
                shares = [t[0] for t in totals]
                break
            time.sleep(0.1)
        stats = [s.between(first, last) for s in samplers]
    finally:
        for s in samplers:
            s.stop()
        for p, _port in procs:
            p.terminate()
            p.wait(30)
    split = "/".join(f"{v / max(sum(shares), 1):.0%}" for v in shares)
    return Result("2 x streamapp score (one group)", n, last - first,
                  sum(c for c, _r in stats), sum(r for _c, r in stats),
                  note=f"events split {split}; RSS is the sum")


def bench_variant(name: str, label: str, bootstrap: str, src: str, n: int) -> Result:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.scoring.variants", name, bootstrap, src,
         f"{src}.out-{name}-{uuid.uuid4().hex[:4]}", str(n)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    sampler = Sampler(proc.pid).start()
    assert proc.stdout is not None
    stats: dict[str, Any] = {}
    try:
        for line in proc.stdout:  # faust routes print() through its logger: find the JSON
            if b'{"first"' in line:
                stats = orjson.loads(line[line.index(b'{"first"'):].strip())
                break
        if not stats:
            raise RuntimeError(f"variant {name} exited without a result")
        cores, rss = sampler.between(stats["first"], stats["last"])
    finally:
        sampler.stop()
        proc.kill()
        proc.wait()
    return Result(label, stats["n"], stats["last"] - stats["first"], cores, rss)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB, "
            f"Python {platform.python_version()}, load average at start "
            f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}")


def render(results: list[Result], relay: Result, faust: Result, offered: float, n: int,
           small: int, where: str) -> str:
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {where}.",
        f"Command: `python -m benchmarks.scoring.run --events {n} --small {small}`; fresh "
        "embedded Tansu broker, 4 partitions, Agrawal JSON events (~230 B), model "
        "agrawal-clf/1 (ONNX Runtime, CPU). Latency at an offered load of "
        f"{offered:,.0f} events/s (about half of streamapp's maximum).",
        "",
        "| variant | events | events/s | vs raw relay | vs faust agent | latency p50 / p99 (ms) "
        "| CPU (cores) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lat = ("overloaded" if r.p50_ms is None or np.isnan(r.p50_ms)
               else f"{r.p50_ms:.1f} / {r.p99_ms:.1f}")
        if r.p50_ms is None and r.note == "skip":
            lat = "n/a (max < offered load)"
        elif r.p50_ms is None:
            lat = "not measured"
        lines.append(
            f"| {r.name} | {r.n:,} | {r.rate:,.0f} | {r.rate / relay.rate:.2f} | "
            f"{r.rate / faust.rate:.1f} | {lat} | {r.cpu_cores:.2f} | {r.peak_rss_mb:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_readme(section: str) -> None:
    text = README.read_text()
    start = text.index("## Scoring throughput and latency")
    end = text.index("\n## ", start + 5)
    body = text[start:end]
    notes = ""
    if "<!-- notes -->" in body:
        notes = body[body.index("<!-- notes -->"):]
    new = "## Scoring throughput and latency\n\n" + section + ("\n" + notes if notes else "\n")
    README.write_text(text[:start] + new.rstrip("\n") + "\n" + text[end:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--small", type=int, default=20_000, help="events for the per-event variants")
    ap.add_argument("--latency-seconds", type=float, default=10.0)
    ap.add_argument("--light-rate", type=float, default=5000.0,
                    help="offered load of the extra light-load latency point")
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    where = machine()
    with EmbeddedBroker() as broker:
        bs = broker.bootstrap_servers
        topics = _topics("bench")
        ensure_topics({"bootstrap.servers": bs}, {t: 4 for t in topics.values()})
        print(f"producing {args.events:,} events ...", flush=True)
        _produce(bs, topics["events"], _events(args.events, 5, "e"))
        relay = max(  # best of two: the shared machine is noisy
            (bench_variant("relay", "raw relay (consume → orjson → produce)", bs,
                           topics["events"], args.events) for _ in range(2)),
            key=lambda r: r.rate,
        )
        print(f"relay {relay.rate:,.0f}/s", flush=True)
        stream = max((bench_streamapp(bs, topics, args.events) for _ in range(2)),
                     key=lambda r: r.rate)
        print(f"streamapp {stream.rate:,.0f}/s", flush=True)
        faust = bench_variant("faust", "faust agent, per event", bs, topics["events"],
                              args.small)
        print(f"faust {faust.rate:,.0f}/s", flush=True)
        permsg = bench_variant("permsg", "confluent-kafka loop, per event", bs,
                               topics["events"], args.small)
        print(f"per-message {permsg.rate:,.0f}/s", flush=True)
        two = bench_two_workers(bs, args.events)
        print(f"two workers {two.rate:,.0f}/s", flush=True)
        offered = round(stream.rate / 2, -2)
        stream.p50_ms, stream.p99_ms = latency_streamapp(bs, offered, args.latency_seconds)
        relay.p50_ms, relay.p99_ms = latency_variant("relay", bs, offered,
                                                      args.latency_seconds)
        for r in (faust, permsg):
            if r.rate < offered:
                r.note = "skip"
        light = {
            "relay": latency_variant("relay", bs, args.light_rate, args.latency_seconds),
            "streamapp": latency_streamapp(bs, args.light_rate, args.latency_seconds),
        }
        two.note = "skip-latency"
        results = [relay, stream, two, faust, permsg]
    section = render(results, relay, faust, offered, args.events, args.small, where)
    section += (
        f"\nLight load ({args.light_rate:,.0f} events/s), latency p50 / p99: raw relay "
        f"{light['relay'][0]:.1f} / {light['relay'][1]:.1f} ms, streamapp "
        f"{light['streamapp'][0]:.1f} / {light['streamapp'][1]:.1f} ms.\n"
    )
    print(section)
    if args.write_readme:
        write_readme(section)


if __name__ == "__main__":
    main()
