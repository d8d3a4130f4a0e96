"""Monitor benchmark: capacity vs one scorer, start to first join, SIGKILL recovery, RSS.

``python -m benchmarks.monitoring.run [--events 1000000] [--held 1000000] [--rss-seconds 120]
[--broker kafka|tansu] [--workers 1] [--processes 1] [--py-spy DIR] [--only STEP]
[--write-readme]``

One fresh local broker (Apache Kafka by default, as ``benchmarks.scoring.run``),
every process separate and sampled for CPU and RSS (``benchmarks.scoring.run.Sampler``):

1. capacity: ``streamapp score`` (defaults: 20 % logged + 5 % holdout) scores
   ``--events`` pre-produced events (events/s), then a label for every event is
   produced and a fresh ``streamapp monitor`` joins them (labels/s, from its
   first consumed record until every logged prediction is joined); ``--workers 2``
   runs that many monitors in one group (CPU summed), ``--processes 2`` one monitor
   command with ``monitoring.processes: 2`` (its supervisor and workers sampled
   as one); ``--py-spy DIR`` records
   each monitor with py-spy (collapsed stacks, idle frames included: wall time,
   ``DIR/monitor-<i>.txt``);
2. start to first join: from the monitor process start to its first join;
3. recovery: ``--held`` logged predictions held without labels, SIGKILL,
   restart on the same disk and on an empty disk (changelog restore): time to
   ready; then every label, and the exact outcome count;
4. RSS: ``--rss-seconds`` at 10k logged predictions/s (half labelled 1 s
   later) with a one-hour TTL: held entries and RSS over time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from benchmarks.scoring.run import (
    README,
    REPO,
    Sampler,
    _events,
    _metrics,
    _produce,
    _ready,
    _topics,
    bench_streamapp,
    kafka_version,
    machine,
)
from streamapp.brokers import embedded_broker, free_port
from streamapp.config import BrokerSettings, SamplingSettings, TopicSettings
from streamapp.kafka.topics import ensure_topics
from streamapp.monitoring.dataplane.sampled import SampleFilter
from streamapp.training.synthetic import agrawal

EVERY_ID_LOGGED = {"STREAMAPP_SAMPLING__LOG_RATE": "1.0"}
"""Recovery and RSS produce synthetic logged predictions for every id: keep every label."""


def _create(bs: str, topics: dict[str, str]) -> None:
    """Create the run's topics as ``streamapp topics create`` would (4 partitions)."""
    ensure_topics({"bootstrap.servers": bs}, TopicSettings(**topics, partitions=4).all_topics())


def monitor_env(bootstrap: str, topics: dict[str, str], port: int, state: Path,
                app_id: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update({f"STREAMAPP_TOPICS__{k.upper()}": v for k, v in topics.items()})
    env.update({
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "STREAMAPP_MODEL__REGISTRY": str(REPO / "models"),
        "STREAMAPP_MONITORING__APP_ID": app_id,
        "STREAMAPP_MONITORING__STATE_DIR": str(state),
        "STREAMAPP_HTTP__PORT": str(port),
        "STREAMAPP_LOG__LEVEL": "WARNING",
        **extra,
    })
    return env


class Monitor:
    """A ``streamapp monitor`` process with its port and CPU/RSS sampler."""

    def __init__(self, env: dict[str, str], spy: Path | None = None) -> None:
        self.port = int(env["STREAMAPP_HTTP__PORT"])
        processes = int(env.get("STREAMAPP_MONITORING__PROCESSES", "1"))
        self.ports = [self.port + i for i in range(processes)]
        """Where its workers serve (one command with ``monitoring.processes``: http.port + i)."""
        self.started = time.time()
        log = Path(env["STREAMAPP_MONITORING__STATE_DIR"] + ".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "streamapp", "monitor"],
                                         cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                         stderr=out)
        self.sampler = Sampler(self.proc.pid, tree=processes > 1).start()
        self.spy: subprocess.Popen[bytes] | None = None
        if spy is not None:  # sampling profiler, every thread, collapsed stacks
            # BENCH_PYSPY_ACTIVE=1: CPU time only (no idle frames), for per-stage shares
            idle = [] if os.environ.get("BENCH_PYSPY_ACTIVE") else ["--idle"]
            spy.parent.mkdir(parents=True, exist_ok=True)
            self.spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                 str(self.proc.pid), "--rate", "200", "--format", "raw", "--threads", *idle,
                 "--nonblocking", "--output", str(spy)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def metric(self, *names: str) -> list[float]:
        """Summed over its worker processes."""
        per = self.per_worker(*names)
        return [sum(v) for v in zip(*per, strict=True)]

    def per_worker(self, *names: str) -> list[list[float]]:
        out = []
        for port in self.ports:
            try:
                out.append(_metrics(port, *names))
            except OSError:
                out.append([0.0] * len(names))
        return out

    def wait(self, cond: object, timeout: float, what: str) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"monitor exited while waiting for {what}: "
                                   f"{self.log.read_text()[-3000:]}")
            if cond():  # type: ignore[operator]
                return time.time()
            time.sleep(0.2)  # each scrape renders every series: poll gently
        raise RuntimeError(f"timed out waiting for {what}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.sampler.stop()
        if self.spy is not None and self.spy.poll() is None:
            self.spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            self.spy.wait(60)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def labels_for(records: list[tuple[bytes, bytes]], at: datetime) -> list[tuple[bytes, bytes]]:
    """One label per event key (the Agrawal class is irrelevant for throughput)."""
    stamp = at.isoformat()
    return [(k, orjson.dumps({"event_id": k.decode(), "label": i % 2, "label_time": stamp}))
            for i, (k, _v) in enumerate(records)]


def logged(n: int, prefix: str, t0: datetime, seed: int = 3) -> list[tuple[bytes, bytes]]:
    """``n`` logged predictions of agrawal-clf/1 as the scorer writes them."""
    out = []
    for i, (x, _y) in enumerate(agrawal(n, seed)):
        t = (t0 + timedelta(milliseconds=i)).isoformat()
        out.append((f"{prefix}{i}".encode(), orjson.dumps({
            "event_id": f"{prefix}{i}", "model_name": "agrawal-clf", "model_version": "1",
            "variant": "primary", "scores": [0.3, 0.7], "predicted_label": 1, "holdout": False,
            "event_time": t, "scored_time": t, "features": x})))
    return out


def capacity(bs: str, n: int, state: Path, workers: int = 1,
             spy: Path | None = None, processes: int = 1) -> dict[str, Any]:
    topics = _topics(f"cap-{uuid.uuid4().hex[:4]}")
    _create(bs, topics)
    events = _events(n, 5, "e")
    _produce(bs, topics["events"], events)
    scored = bench_streamapp(bs, topics, n)
    print(f"scorer {scored.rate:,.0f} events/s", flush=True)
    keep = SampleFilter(SamplingSettings())  # the scorer's defaults: what it logged
    n_logged = sum(keep.keep(k.decode()) for k, _v in events)
    _produce(bs, topics["labels"], labels_for(events, datetime.now(UTC)))
    app = f"cap-{uuid.uuid4().hex[:6]}"
    extra = {"STREAMAPP_MONITORING__PROCESSES": str(processes)}  # one command, N workers
    mons = [Monitor(monitor_env(bs, topics, free_port(), state / str(i), app, **extra),
                    spy / f"monitor-{i}.txt" if spy else None) for i in range(workers)]
    names = ("streamapp_monitor_records_total", "streamapp_label_joins_total",
             "streamapp_labels_outside_sample_total")

    def total(*which: str) -> list[float]:
        per = [m.metric(*which) for m in mons]
        return [sum(v) for v in zip(*per, strict=True)]

    first = mons[0]
    try:
        first_record = first.wait(lambda: total(names[0])[0] > 0, 120, "first record")
        first_join = first.wait(lambda: total(names[1])[0] > 0, 120, "first join")
        # every label and logged prediction consumed, every logged prediction joined (one
        # scrape per poll: rendering /metrics costs the monitor CPU)
        def finished() -> bool:
            consumed, joined = total(names[0], names[1])
            return consumed >= n + n_logged and joined >= n_logged

        done = first.wait(finished, 900, "every label")
        records, joins, outside = total(*names)
        shares = [w[0] for m in mons for w in m.per_worker(names[0])]
        used = [m.sampler.between(first_record, done) for m in mons]
    finally:
        for m in mons:
            m.stop()
    seconds = done - first_record
    return {"events_per_s": scored.rate, "scorer_cores": scored.cpu_cores,
            "labels_per_s": n / seconds, "records_per_s": records / seconds, "joins": joins,
            "outside_sample": outside, "monitor_cores": sum(c for c, _r in used),
            "monitor_rss_mb": sum(r for _c, r in used), "workers": workers,
            "processes": processes,
            "split": "/".join(f"{v / max(sum(shares), 1):.0%}" for v in shares),
            "start_to_first_join_s": first_join - first.started, "n": n, "logged": n_logged}


def recovery(bs: str, held: int, base: Path) -> dict[str, float]:
    topics = _topics(f"rec-{uuid.uuid4().hex[:4]}")
    _create(bs, topics)
    t0 = datetime.now(UTC)
    preds = logged(held, "h", t0)
    _produce(bs, topics["prediction_log"], preds)
    app = f"rec-{uuid.uuid4().hex[:6]}"
    env = monitor_env(bs, topics, free_port(), base / "a", app, **EVERY_ID_LOGGED)
    mon = Monitor(env)
    out: dict[str, float] = {"held": held}
    try:
        started = time.time()
        mon.wait(lambda: sum(mon.metric("streamapp_join_held")) >= held, 900, "held")
        out["hold_s"] = time.time() - started
        out["rss_holding_mb"] = mon.sampler.between(started, time.time())[1]
    finally:
        mon.stop(signal.SIGKILL)
    for name, state in (("same_disk", base / "a"), ("empty_disk", base / "b")):
        env = monitor_env(bs, topics, free_port(), state, app, **EVERY_ID_LOGGED)
        killed = time.time()
        mon = Monitor(env)
        try:
            ready = mon.wait(lambda m=mon: _ready(m.port), 900, "ready")
            out[f"recovery_{name}_s"] = ready - killed
            out[f"held_after_{name}"] = sum(mon.metric("streamapp_join_held"))
        finally:
            mon.stop(signal.SIGKILL)
    mon = Monitor(monitor_env(bs, topics, free_port(), base / "b", app, **EVERY_ID_LOGGED))
    try:
        mon.wait(lambda: _ready(mon.port), 900, "ready")
        _produce(bs, topics["labels"], labels_for(preds, t0 + timedelta(seconds=1)))
        mon.wait(lambda: mon.metric("streamapp_outcomes_recorded")[0] >= held, 900, "outcomes")
        time.sleep(2)  # nothing beyond the exact count may arrive
        out["outcomes_recorded"] = mon.metric("streamapp_outcomes_recorded")[0]
    finally:
        mon.stop()
    return out


def rss(bs: str, seconds: float, rate: float, state: Path) -> dict[str, Any]:
    topics = _topics(f"rss-{uuid.uuid4().hex[:4]}")
    _create(bs, topics)
    mon = Monitor(monitor_env(bs, topics, free_port(), state, f"rss-{uuid.uuid4().hex[:6]}",
                              STREAMAPP_MONITORING__LABEL_TTL_S="3600", **EVERY_ID_LOGGED))
    mon.wait(lambda: _ready(mon.port), 120, "ready")
    producer = Producer({"bootstrap.servers": bs, "linger.ms": 20,
                         "queue.buffering.max.messages": 2_000_000})
    rows = [x for x, _y in agrawal(20_000, 9)]
    samples: list[tuple[float, float, float]] = []
    started = time.time()
    sent = 0
    try:
        while time.time() - started < seconds:
            tick = time.time()
            now = datetime.now(UTC)
            stamp = now.isoformat()
            for _ in range(int(rate / 10)):
                eid = f"r{sent}"
                producer.produce(topics["prediction_log"], orjson.dumps({
                    "event_id": eid, "model_name": "agrawal-clf", "model_version": "1",
                    "scores": [0.3, 0.7], "predicted_label": 1, "event_time": stamp,
                    "scored_time": stamp, "features": rows[sent % len(rows)]}), eid.encode())
                if sent % 2:  # half the predictions get their label right away
                    producer.produce(topics["labels"], orjson.dumps(
                        {"event_id": eid, "label": 1, "label_time": stamp}), eid.encode())
                sent += 1
            producer.poll(0)
            if int(tick - started) != int(time.time() - started) or not samples:
                held = sum(mon.metric("streamapp_join_held"))
                samples.append((time.time() - started, held,
                                mon.sampler.samples[-1][2] / 2**20 if mon.sampler.samples else 0))
            time.sleep(max(0.0, 0.1 - (time.time() - tick)))
        producer.flush(60)
    finally:
        mon.stop()
    rss_mb = [s[2] for s in samples if s[0] > 10]
    per_minute = [max(r for t, _h, r in samples if m * 60 <= t < (m + 1) * 60)
                  for m in range(int(seconds // 60))]  # peak RSS of each minute: flattening?
    return {"seconds": seconds, "rate": sent / seconds, "held_end": samples[-1][1],
            "rss_min_mb": min(rss_mb), "rss_max_mb": max(rss_mb), "rss_end_mb": rss_mb[-1],
            "rss_per_minute_mb": per_minute, "samples": len(samples)}


def render(cap: dict[str, Any], rec: dict[str, float], mem: dict[str, Any],
           where: str, args: argparse.Namespace, broker: str) -> str:
    minutes = ", ".join(f"{v:.0f}" for v in mem["rss_per_minute_mb"])
    return "\n".join([
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {where}.",
        f"Command: `python -m benchmarks.monitoring.run --events {args.events} --held "
        f"{args.held} --rss-seconds {args.rss_seconds:g} --broker {args.broker}`; fresh "
        f"{broker}, 4 partitions.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| scorer (`streamapp score`, defaults) | {cap['events_per_s']:,.0f} events/s, "
        f"{cap['scorer_cores']:.2f} cores |",
        f"| monitor, labels for every event ({cap['n']:,.0f}) + the prediction log | "
        f"{cap['labels_per_s']:,.0f} labels/s ({cap['records_per_s']:,.0f} records/s), "
        f"{cap['monitor_cores']:.2f} cores, {cap['monitor_rss_mb']:.0f} MB |",
        f"| **monitor / scorer** | **{cap['labels_per_s'] / cap['events_per_s']:.2f}x** |",
        f"| start to first join (data waiting) | {cap['start_to_first_join_s']:.1f} s |",
        f"| hold {rec['held']:,.0f} logged predictions | {rec['hold_s']:.1f} s, "
        f"RSS {rec['rss_holding_mb']:.0f} MB |",
        f"| SIGKILL → ready, same disk | {rec['recovery_same_disk_s']:.1f} s "
        f"({rec['held_after_same_disk']:,.0f} held) |",
        f"| SIGKILL → ready, empty disk (changelog restore) | "
        f"{rec['recovery_empty_disk_s']:.1f} s ({rec['held_after_empty_disk']:,.0f} held) |",
        f"| outcomes after labelling all held predictions | "
        f"{rec['outcomes_recorded']:,.0f} (exact: {rec['held']:,.0f}) |",
        f"| RSS, one-hour TTL, {mem['rate']:,.0f} logged/s for {mem['seconds']:.0f} s "
        f"(half labelled) | {mem['rss_min_mb']:.0f} to {mem['rss_max_mb']:.0f} MB "
        f"with {mem['held_end']:,.0f} held at the end |",
        f"| RSS peak per minute (MB) | {minutes} |",
        "",
    ])


def write_readme(section: str) -> None:
    text = README.read_text()
    head = "## Monitor capacity, recovery and memory"
    if head in text:
        start = text.index(head)
        end = text.find("\n## ", start + 5)
        end = len(text) if end < 0 else end
        text = text[:start] + text[end:].lstrip("\n")
    README.write_text(text.rstrip("\n") + "\n\n" + head + "\n\n" + section)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000,
                    help="capacity: events scored, then labelled (a window of ~20 s each: "
                         "the 1 s checkpoint at the end of a 4 s window swung 200k runs 2x)")
    ap.add_argument("--held", type=int, default=1_000_000)
    ap.add_argument("--rss-seconds", type=float, default=120.0)
    ap.add_argument("--rss-rate", type=float, default=10_000.0)
    ap.add_argument("--broker", choices=("kafka", "tansu"), default="kafka")
    ap.add_argument("--workers", type=int, default=1,
                    help="capacity: separate `streamapp monitor` commands in one group")
    ap.add_argument("--processes", type=int, default=1,
                    help="capacity: monitoring.processes of each command (one supervisor)")
    ap.add_argument("--py-spy", type=Path, default=None, help="profile the capacity monitors")
    ap.add_argument("--only", choices=["capacity", "recovery", "rss"], default=None)
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    where = machine()
    tmp = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    results: dict[str, dict[str, Any]] = {}
    libs = os.environ.get("STREAMAPP_BROKER__KAFKA_LIBS")
    settings = BrokerSettings(kind=args.broker, kafka_libs=Path(libs) if libs else None)
    try:
        with embedded_broker(settings) as broker:
            bs = broker.bootstrap_servers
            broker_name = (f"Apache Kafka {kafka_version(settings)} (single node, KRaft)"
                           if args.broker == "kafka" else "embedded Tansu broker")
            steps: dict[str, Callable[[], dict[str, Any]]] = {
                "capacity": lambda: capacity(bs, args.events, tmp / "cap", args.workers,
                                             args.py_spy, args.processes),
                "recovery": lambda: recovery(bs, args.held, tmp / "rec"),
                "rss": lambda: rss(bs, args.rss_seconds, args.rss_rate, tmp / "rss"),
            }
            for name, step in steps.items():
                if args.only in (None, name):
                    results[name] = step()
                    print(name, orjson.dumps(results[name]).decode(), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.only is None:
        section = render(results["capacity"], results["recovery"], results["rss"], where, args,
                         broker_name)
        print(section)
        if args.write_readme:
            write_readme(section)


if __name__ == "__main__":
    threading.excepthook = lambda a: None  # samplers die with their process
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up brokers and temp dirs
    main()
