"""``streamapp demo``: broker → topics → models → workers → traffic → live view → report.

Everything runs in separate processes as in production (scorer, monitor,
retrainer), against the configured cluster or, with ``--local-broker``, a local
development broker started for the run (:func:`streamapp.host.resolve_cluster`).
``stop`` (set by SIGINT/SIGTERM in the CLI) ends the run early; either way
children are stopped by PID in order — retrainer, monitor, scorer — before the
broker, and the report is written. With ``--format avro`` the records travel as Avro
through a Schema Registry: ``schema_registry.url``, else a local Apicurio Registry
started after the broker and stopped by PID before it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from streamapp.brokers import BrokerError, free_port, local_broker_kind
from streamapp.brokers.schema_registry import ApicurioRegistry
from streamapp.child import Child, ChildError, streamapp_command
from streamapp.config import Settings
from streamapp.demo.loop import Loop
from streamapp.demo.observer import Observer
from streamapp.demo.prepare import DemoOptions, child_env, prepare_registry
from streamapp.demo.producer import TrafficProducer, Truth
from streamapp.demo.report import paragraph, render
from streamapp.demo.result import DemoResult, Marker, judge
from streamapp.demo.view import LiveView
from streamapp.demo.wire import ValueReader, WireEncoders
from streamapp.formats.writers.serialize import SchemaUnavailable
from streamapp.host import resolve_cluster
from streamapp.kafka.topics import TopicError, ensure_topics
from streamapp.registry.registry import ModelRegistry
from streamapp.retrain.events import events
from streamapp.settings.formats import SchemaRegistrySettings

START_STEPS = 6
"""Start-up steps of a JSON run (``avro`` adds the Schema Registry)."""


class DemoRun:
    """One demo run; :meth:`run` returns the :class:`DemoResult` (report already written)."""

    def __init__(
        self,
        settings: Settings,
        options: DemoOptions,
        console: Console,
        stop: threading.Event,
        local_broker: bool = False,
    ) -> None:
        self.settings = settings
        self.local_broker = local_broker
        self.options = options
        self.plan = options.plan()
        self.console = console
        self.stop = stop
        self.view = LiveView(console)
        self.out = options.out
        self.truth = Truth()
        self.markers: list[Marker] = [
            Marker(self.plan.drift_at_s, "drift", "concept + covariate shift")
        ]
        self.loop: Loop | None = None
        self.observer: Observer | None = None
        self.workers: list[Child] = []
        self.error: str | None = None
        self.schema_registry: ApicurioRegistry | None = None
        self.steps = START_STEPS + (options.format != "json")
        self._step = 0

    def note_step(self, text: str) -> None:
        self._step += 1
        self.view.startup_step(f"[{self._step}/{self.steps}] {text}")

    def run(self) -> DemoResult:
        started = datetime.now(UTC)
        t_start = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            self._run()
        except (ChildError, BrokerError, TopicError, SchemaUnavailable) as exc:
            self.error = str(exc)
            self.view.note(f"demo failed: {exc}")
        result = self._result(started, time.monotonic() - t_start)
        files = render(result, self.out)
        self.view.note(paragraph(result))
        self.view.note("report: " + ", ".join(str(f) for f in files))
        return result

    def _run(self) -> None:
        cfg = self.settings
        with ExitStack() as stack:
            self.view.startup_begin(self.steps)
            stack.callback(self.view.startup_end)
            t = time.monotonic()
            embedded = not cfg.kafka.bootstrap_servers
            bootstrap = stack.enter_context(resolve_cluster(cfg, "demo", self.local_broker))
            where = f"local {local_broker_kind(cfg.broker)}" if embedded else "configured"
            self.note_step(f"broker {where} at {bootstrap} ({time.monotonic() - t:.1f}s)")
            registry = self._schema_registry(stack)
            conf = cfg.kafka.librdkafka(bootstrap)
            ensure_topics(conf, cfg.topics.all_topics(), cfg.topics.replication_factor,
                          configs=cfg.topics.topic_configs())
            self.note_step(f"{len(cfg.topics.all_topics())} topics ready")
            registry_dir = self.out / "models"
            bars = self.view.startup
            task = bars.add_task("preparing models", total=None)

            def status(name: str, done: int, total: int) -> None:
                bars.update(task, description=f"models: {name}", completed=done, total=total)

            serving = prepare_registry(cfg.model.registry, registry_dir, self.options.seed, status)
            self.note_step(
                f"model {serving.name}/{serving.version} serving "
                f"(baseline {serving.manifest.baseline_metrics})"
            )
            run_id = uuid.uuid4().hex[:8]
            encoders = None
            if registry is not None:
                encoders = WireEncoders.register(
                    cfg.topics, registry, serving.manifest.features, self.out / "schemas"
                )
            env = child_env(cfg, bootstrap, registry_dir, run_id, embedded, self.options,
                            registry.url if registry else None)
            stack.callback(self._stop_workers)
            retrain_log = self.out / "logs" / "retrain.log"  # its events: JSON log lines
            self._start_workers(env, retrain_log)
            self._write_pids()
            t0 = time.monotonic()
            threads_stop = threading.Event()
            self.observer = Observer(
                conf, cfg.topics, self.truth, threads_stop, t0, ValueReader.of(registry)
            )
            producer = TrafficProducer(
                conf, cfg.topics, self.plan, self.truth, threads_stop, t0, encoders
            )
            count_window = int(env["STREAMAPP_MONITORING__COUNT_WINDOW"])
            self.loop = Loop(self, ModelRegistry(registry_dir), producer, retrain_log, count_window)
            self.view.startup_end()
            self.observer.start()
            producer.start()
            self.view.note(
                f"traffic started: {self.plan.rate:g} events/s for {self.plan.duration_s:g}s, "
                f"drift at t={self.plan.drift_at_s:g}s"
            )
            try:
                with self.view:
                    self.loop.run()
            finally:
                threads_stop.set()
                producer.join(15)
                self.observer.join(15)
                producer.close()
                self.error = self.error or producer.error

    def _schema_registry(self, stack: ExitStack) -> SchemaRegistrySettings | None:
        """The Schema Registry of a registry format (None for JSON): ``schema_registry.url``,
        else a local Apicurio Registry stopped by PID when ``stack`` closes; raises
        :class:`BrokerError` when it cannot start (no Java 21+, no Apicurio, not ready)."""
        if self.options.format == "json":
            return None
        configured = self.settings.schema_registry
        if configured.url:
            self.note_step(f"schema registry configured at {configured.url}")
            return configured
        t = time.monotonic()
        local = ApicurioRegistry(workdir=(self.out / "schema-registry").resolve())
        self.schema_registry = stack.enter_context(local)
        self.note_step(f"schema registry local apicurio at {local.url} "
                       f"({time.monotonic() - t:.1f}s)")
        return SchemaRegistrySettings(url=local.url)

    def _start_workers(self, env: dict[str, str], retrain_log: Path) -> None:
        logs = self.out / "logs"
        for role, args in (
            ("score", ["--processes", "1"]),  # one process: the view scrapes one /metrics
            ("monitor", []),
            ("retrain", []),
        ):
            port = free_port() if role != "retrain" else None
            role_env = {**env, "STREAMAPP_HTTP__PORT": str(port or 0)}
            argv = streamapp_command(role, *args)
            worker = Child(role, argv, role_env, logs / f"{role}.log", port).start()
            self.workers.append(worker)
        names = {"score": "scorer", "monitor": "monitor", "retrain": "retrainer"}
        for worker in self.workers:
            t = time.monotonic()
            check = None
            if worker.name == "retrain":

                def check(path: Path = retrain_log) -> bool:
                    text = path.read_text(encoding="utf-8") if path.is_file() else ""
                    return any(e["event"] == "ready" for e in events(text.splitlines()))

            worker.wait_ready(self.options.startup_timeout_s, self.stop.is_set, check)
            where = f" (/metrics on :{worker.http_port})" if worker.http_port else ""
            self.note_step(f"{names[worker.name]} ready in {time.monotonic() - t:.1f}s{where}")

    def _write_pids(self) -> None:
        pids = {w.name: w.pid for w in self.workers if w.popen is not None}
        if self.schema_registry is not None and self.schema_registry.pid is not None:
            pids["schema_registry"] = self.schema_registry.pid
        (self.out / "pids.json").write_text(json.dumps(pids) + "\n", encoding="utf-8")

    def _stop_workers(self) -> None:
        """Retrainer, monitor, scorer — all before the broker (faust hangs without it)."""
        for worker in reversed(self.workers):
            code = worker.stop()
            self.view.note(f"stopped {worker.name} (exit {code})")

    def _result(self, started: datetime, wall_s: float) -> DemoResult:
        loop, obs = self.loop, self.observer
        samples = loop.samples if loop else []
        markers = sorted(self.markers, key=lambda m: m.t)
        promo_t = max((m.t for m in markers if m.kind == "promotion"), default=None)
        accuracy: dict[str, tuple[float, int]] = {}
        if obs is not None and promo_t is not None:
            accuracy = obs.accuracy(promo_t + 1.0)
        decisions = [
            {"t": round(seen.t, 2), **seen.decision.model_dump(mode="json")}
            for seen in (obs.decisions if obs else [])
        ]
        verdict = judge(
            markers,
            set(obs.first_seen) if obs else set(),
            "1",
            accuracy,
            self.options.recovery_threshold,
            self.options.min_recovery_predictions,
            {d["candidate_version"]: d["decision"] for d in decisions},
        )
        counts: dict[str, float] = {
            "events_sent": self.truth.events_sent,
            "malformed_sent": self.truth.malformed_sent,
            "labels_sent": self.truth.labels_sent,
            "labels_dropped": self.truth.labels_dropped,
            "predictions_read": obs.predictions if obs else 0,
            "dead_letters": sum(obs.dead_letters.values()) if obs else 0,
            "retrain_requests": sum(1 for m in markers if m.kind == "request"),
            "delivery_errors": self.truth.delivery_errors,
        }
        if self.options.format != "json":
            counts.update(self._wire_counts())
        return DemoResult(
            plan=self.plan,
            samples=samples,
            markers=markers,
            accuracy_series=loop.accuracy_series() if loop else {},
            counts=counts,
            verdict=verdict,
            retrain_events=loop.retrain_events if loop else [],
            decisions=decisions,
            interrupted=self.stop.is_set(),
            error=self.error,
            started_at=started.isoformat(),
            wall_s=round(wall_s, 1),
            format=self.options.format,
        )

    def _wire_counts(self) -> dict[str, float]:
        """Evidence of the wire format: predictions the observer read in it (and not), and the
        events and labels the scorer and the monitor decoded from it (their last scrape)."""
        fmt = self.options.format
        seen = self.observer.prediction_values.counts if self.observer else {}
        scrapes = self.loop.last_scrapes if self.loop else {}
        decoded = {
            role: scrapes[role].total("streamapp_format_records_total", format=fmt, result="ok")
            for role in ("score", "monitor") if role in scrapes
        }
        return {
            f"{fmt}_predictions_read": seen.get("wire", 0),
            "json_predictions_read": seen.get("json", 0),
            "undecodable_predictions": seen.get("undecodable", 0),
            f"{fmt}_events_decoded": decoded.get("score", 0.0),
            f"{fmt}_labels_decoded": decoded.get("monitor", 0.0),
        }


def run_demo(
    settings: Settings,
    options: DemoOptions,
    console: Console,
    stop: threading.Event | None = None,
    local_broker: bool = False,
) -> DemoResult:
    """Run the demo end to end and write the report into ``options.out``; a local broker
    only with ``local_broker`` (else :class:`~streamapp.host.NoClusterError` without a
    configured cluster)."""
    run = DemoRun(settings, options, console, stop or threading.Event(), local_broker)
    return run.run()
