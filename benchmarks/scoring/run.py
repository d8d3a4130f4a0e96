"""Scoring benchmark: streamapp score vs raw relay, a faust per-event agent, a per-message loop.

``python -m benchmarks.scoring.run [--events 300000] [--small 20000] [--broker kafka|tansu]
[--write-readme]``

One fresh local broker (Apache Kafka by default; its jars: ``STREAMAPP_BROKER__KAFKA_LIBS``
or ``.kafka/lib``), the same pre-produced Agrawal events and the same demo model
(agrawal-clf/1, ONNX, CPU) for every variant. Each variant runs in its own process
(CPU and peak RSS are that process's). Throughput: events from the first consumed to
the last output acknowledged. Latency: event time → output consumed (read_committed),
at a light load and at about half of streamapp's measured maximum, next to the broker
floor (the harness's generator and reader with nothing in between). streamapp runs
at-least-once (the default), with its sink's ``linger.ms`` 0 (``kafka.extra``), and
exactly-once (transactions).
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

from benchmarks.scoring.latency import (
    Latency,
    Percentiles,
    latency_floor,
    latency_streamapp,
    latency_variant,
)
from streamapp.brokers import embedded_broker, free_port
from streamapp.brokers.apache import find_kafka_libs
from streamapp.config import BrokerSettings
from streamapp.kafka.topics import ensure_topics
from streamapp.training.synthetic import agrawal

REPO = Path(__file__).resolve().parents[2]
README = REPO / "benchmarks" / "README.md"
EXACTLY_ONCE = {"STREAMAPP_SCORING__PROCESSING_GUARANTEE": "exactly_once"}
SINK_LINGER0 = {"STREAMAPP_KAFKA__EXTRA": orjson.dumps({"linger.ms": "0"}).decode()}


@dataclass
class Result:
    name: str
    n: int = 0
    seconds: float = 0.0
    cpu_cores: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        """CPU time of the variant's process per event, µs."""
        return self.cpu_cores * self.seconds / self.n * 1e6 if self.n else 0.0


@dataclass
class Sampler:
    """Samples a process's CPU time and RSS every 50 ms in a thread."""

    pid: int
    tree: bool = False
    """Sum the process's children too (a supervisor and its workers)."""
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Sampler:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        proc = psutil.Process(self.pid)
        seen: dict[int, float] = {}  # CPU seconds per process of the tree (children may exit)
        while not self._stop.wait(0.05):
            try:
                procs = [proc, *proc.children(recursive=True)] if self.tree else [proc]
                rss = 0
                for p in procs:
                    try:
                        cpu = p.cpu_times()
                        seen[p.pid] = cpu.user + cpu.system
                        rss += p.memory_info().rss
                    except psutil.Error:
                        if p is proc:
                            raise
                self.samples.append((time.time(), sum(seen.values()), rss))
            except psutil.Error:
                return

    def stop(self) -> None:
        self._stop.set()

    def between(self, t0: float, t1: float) -> tuple[float, float]:
        """(CPU cores used on average, peak RSS MB) between two wall-clock times.

        NaN where the sampler saw too little (a run shorter than two 50 ms samples, or a
        process that had already exited): a table cell, never an exception.
        """
        samples = list(self.samples)
        inside = [s for s in samples if t0 - 0.05 <= s[0] <= t1 + 0.05] or samples[-2:]
        if len(inside) < 2:
            peak = max((s[2] for s in samples), default=None)
            return float("nan"), float("nan") if peak is None else peak / 2**20
        cores = (inside[-1][1] - inside[0][1]) / max(inside[-1][0] - inside[0][0], 1e-9)
        return cores, max(s[2] for s in samples) / 2**20


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
        "STREAMAPP_SCORING__PROCESSES": "1",  # one process per row; "2 x" starts two
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
    bootstrap: str, topics: dict[str, str], group: str | None = None,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """A ``streamapp score`` process; ``env``: extra ``STREAMAPP_*`` settings."""
    port = free_port()
    full_env = {**_streamapp_env(bootstrap, topics, port), **(env or {})}
    if group:
        full_env["STREAMAPP_SCORING__GROUP_ID"] = group
    proc = subprocess.Popen([sys.executable, "-m", "streamapp", "score"], cwd=REPO, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not _ready(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError("streamapp score did not become ready")
        time.sleep(0.1)
    return proc, port


def bench_streamapp(bootstrap: str, topics: dict[str, str], n: int,
                    label: str = "streamapp score (defaults)",
                    env: dict[str, str] | None = None) -> Result:
    """Throughput of one worker (a new group) over the ``n`` pre-produced events."""
    proc, port = _start_streamapp(bootstrap, topics, env=env)
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
    return Result(label, n, last - first, cores, rss)


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
    return Result(f"2 x streamapp score (one group, split {split}; CPU and RSS summed)", n,
                  last - first, sum(c for c, _r in stats), sum(r for _c, r in stats))


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


def kafka_version(settings: BrokerSettings) -> str:
    """The Apache Kafka version, from the name of the broker jar."""
    jar = next(find_kafka_libs(settings.kafka_libs).glob("kafka_2.13-*.jar"))
    return jar.stem.removeprefix("kafka_2.13-")


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


def _ms(p: Percentiles | None, n: int = 3) -> str:
    """The first ``n`` of p50 / p99 / p999 in ms, or why there are none.

    >>> _ms((1.234, 5.0, 12.0))
    '1.2 / 5.0 / 12.0'
    >>> _ms((1.234, 5.0, 12.0), 2)
    '1.2 / 5.0'
    """
    if p is None:
        return "n/a (max < offered load)"
    return "overloaded" if np.isnan(p[0]) else " / ".join(f"{v:.1f}" for v in p[:n])


def routed_ms(lat: Latency | None) -> str:
    """``lat``'s routed p50 / p99, "—" for a path whose outputs carry no ``scored_time``."""
    return "—" if lat is not None and lat.routed is None else _ms(lat and lat.routed, 2)


def latency_paths(bootstrap: str, rate: float, seconds: float,
                  exactly_once: bool = True) -> dict[str, Latency | None]:
    """Latency of each path at ``rate`` events/s, the broker floor first (None: not measured)."""
    return {
        "broker floor (generator → broker → reader)": latency_floor(bootstrap, rate, seconds),
        "raw relay": latency_variant("relay", bootstrap, rate, seconds),
        "streamapp score (defaults)": latency_streamapp(bootstrap, rate, seconds),
        "streamapp score, sink linger.ms 0": latency_streamapp(bootstrap, rate, seconds,
                                                               SINK_LINGER0),
        "streamapp score, exactly-once": (
            latency_streamapp(bootstrap, rate, seconds, EXACTLY_ONCE) if exactly_once else None),
    }


def render_latency(light: dict[str, Latency | None], half: dict[str, Latency | None]) -> list[str]:
    """The latency table: one row per path, total, routed and hand-off percentiles per load."""
    lines = ["| path | light p50 / p99 / p999 (ms) | light: to routed p50 / p99 "
             "| light: to hand-off p50 / p99 | half p50 / p99 / p999 (ms) "
             "| half: to routed p50 / p99 | half: to hand-off p50 / p99 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in light:
        cells = [f"{_ms(lat and lat.total)} | {routed_ms(lat)} "
                 f"| {_ms(lat and lat.handoff, 2)}" for lat in (light[name], half[name])]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return lines


def render(results: list[Result], relay: Result, faust: Result, offered: float,
           light: dict[str, Latency | None], half: dict[str, Latency | None],
           args: argparse.Namespace, where: str, broker: str) -> str:
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {where}.",
        f"Command: `python -m benchmarks.scoring.run --events {args.events} --small "
        f"{args.small} --broker {args.broker}`; fresh {broker}, 4 partitions, Agrawal JSON "
        "events (~230 B), model agrawal-clf/1 (ONNX Runtime, CPU), client defaults of this "
        "commit.",
        "",
        "| variant | events | events/s | vs raw relay | vs faust agent | CPU µs/event "
        "| CPU (cores) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.n:,} | {r.rate:,.0f} | {r.rate / relay.rate:.2f} | "
            f"{r.rate / faust.rate:.1f} | {r.cpu_us_per_event:.1f} | "
            f"{r.cpu_cores:.2f} | {r.peak_rss_mb:.0f} |"
        )
    lines += [
        "",
        f"Latency: event produced → output consumed (read_committed), "
        f"{args.latency_seconds:.0f} s at each offered load: light = {args.light_rate:,.0f} "
        f"events/s, half = {offered:,.0f} events/s (about half of streamapp's at-least-once "
        "maximum). Harness: load generator linger.ms 0, TCP_NODELAY, ≤ 5 requests in flight; "
        "reader TCP_NODELAY, fetch.wait.max.ms 10. Systems under test with their own client "
        "settings (streamapp's defaults; the relay with streamapp's producer defaults). "
        "Routed: event produced → the prediction's scored_time (its batch's routing began: "
        "after fetch, decode and the hand-off to a scorer thread). Hand-off: event produced → "
        "the output record's timestamp (when the path handed it to its producer).",
        "",
        *render_latency(light, half),
    ]
    return "\n".join(lines) + "\n"


def write_readme(section: str) -> None:
    text = README.read_text()
    start = text.index("## Scoring throughput and latency")
    end = text.index("\n## ", start + 5)
    body = text[start:end]
    notes = ""
    if "\n<!-- notes -->\n" in body:  # the marker on a line of its own, not a mention of it
        notes = body[body.index("\n<!-- notes -->\n") + 1:]
    new = "## Scoring throughput and latency\n\n" + section + ("\n" + notes if notes else "\n")
    README.write_text(text[:start] + new.rstrip("\n") + "\n" + text[end:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--small", type=int, default=20_000, help="events for the per-event variants")
    ap.add_argument("--broker", choices=("kafka", "tansu"), default="kafka")
    ap.add_argument("--latency-seconds", type=float, default=10.0)
    ap.add_argument("--light-rate", type=float, default=5000.0,
                    help="offered load of the light-load latency point")
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    where = machine()
    libs = os.environ.get("STREAMAPP_BROKER__KAFKA_LIBS")
    settings = BrokerSettings(kind=args.broker, kafka_libs=Path(libs) if libs else None)
    with embedded_broker(settings) as broker:
        bs = broker.bootstrap_servers
        broker_name = (f"Apache Kafka {kafka_version(settings)} (single node, KRaft)"
                       if args.broker == "kafka" else "embedded Tansu broker")
        topics = _topics("bench")
        ensure_topics({"bootstrap.servers": bs}, {t: 4 for t in topics.values()})
        print(f"producing {args.events:,} events to {broker_name} ...", flush=True)
        _produce(bs, topics["events"], _events(args.events, 5, "e"))
        relay = max(  # best of two: the shared machine is noisy
            (bench_variant("relay", "raw relay (consume → orjson → produce)", bs,
                           topics["events"], args.events) for _ in range(2)),
            key=lambda r: r.rate,
        )
        print(f"relay {relay.rate:,.0f}/s", flush=True)
        alo = max((bench_streamapp(bs, topics, args.events) for _ in range(2)),
                  key=lambda r: r.rate)
        print(f"streamapp at-least-once {alo.rate:,.0f}/s", flush=True)
        eos = max((bench_streamapp(bs, topics, args.events, "streamapp score, exactly-once",
                                   EXACTLY_ONCE) for _ in range(2)), key=lambda r: r.rate)
        print(f"streamapp exactly-once {eos.rate:,.0f}/s", flush=True)
        faust = bench_variant("faust", "faust agent, per event", bs, topics["events"],
                              args.small)
        print(f"faust {faust.rate:,.0f}/s", flush=True)
        permsg = bench_variant("permsg", "confluent-kafka loop, per event", bs,
                               topics["events"], args.small)
        print(f"per-message {permsg.rate:,.0f}/s", flush=True)
        two = bench_two_workers(bs, args.events)
        print(f"two workers {two.rate:,.0f}/s", flush=True)
        offered = round(alo.rate / 2, -2)
        half = latency_paths(bs, offered, args.latency_seconds, eos.rate >= offered)
        print("half-load latency done", flush=True)
        light = latency_paths(bs, args.light_rate, args.latency_seconds)
        results = [relay, alo, eos, two, faust, permsg]
    section = render(results, relay, faust, offered, light, half, args, where, broker_name)
    print(section)
    if args.write_readme:
        write_readme(section)


if __name__ == "__main__":
    main()
