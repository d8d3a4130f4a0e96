"""Broken models promoted into a running worker: rejected at load (old version keeps serving)
or isolated per event (model_error dead letters); the worker never stops."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson

from streamapp.settings.topics import TopicSettings
from tests.reliability import models as m
from tests.reliability.conftest import Record, StartScorer
from tests.reliability.kafka_io import produce_all, read_values
from tests.reliability.procs import Proc
from tests.reliability.sizes import Sizes
from tests.scoring_support import event, good_events


def _wait_metric(proc: Proc, cond: Callable[[], bool], what: str, timeout: float = 60) -> None:
    tick = threading.Event()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        tick.wait(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{proc.log_tail()}")


def test_broken_versions_are_rejected_or_isolated(
    bootstrap: str,
    rtopics: TopicSettings,
    registry_dir: Path,
    unique: str,
    start_scorer: StartScorer,
    sizes: Sizes,
    record: Record,
) -> None:
    worker = start_scorer(reload_poll_ms=100)
    produced = 0
    versions: Counter[str] = Counter()
    expected: set[bytes] = set()

    def stream(prefix: str, n: int) -> None:
        nonlocal produced
        records = good_events(n, prefix=f"{prefix}{unique}-")
        produce_all(bootstrap, rtopics.events, records)
        expected.update(k for k, _v in records)
        produced += n

    def rejected(version: str) -> float:
        return worker.metrics().get(
            ("streamapp_model_rejects_total", (("model", m.NAME), ("version", version))), 0.0
        )

    stream("a", 500)
    _, marker = m.make_pickled_pt(registry_dir, "5")
    broken: list[tuple[str, str, Callable[[], object]]] = [
        (
            "2",
            "corrupt ONNX (valid checksum)",
            lambda: m.garbage_onnx(m.copy_version(registry_dir, "2")),
        ),
        ("3", "checksum mismatch", lambda: m.tamper(m.copy_version(registry_dir, "3"))),
        ("4", "wrong input shape", lambda: m.make_wrong_shape_torch(registry_dir, "4")),
        ("5", "pickle instead of TorchScript", lambda: None),
    ]
    for version, _what, make in broken:
        make()
        m.promote(registry_dir, version)
        _wait_metric(worker, lambda v=version: rejected(v) >= 1, f"reject of {version}")  # type: ignore[misc]
        stream(f"v{version}", 300)
    assert not marker.exists(), "a pickled artifact was unpickled"

    preds = read_values(bootstrap, rtopics.predictions, produced, timeout=120)
    versions.update(orjson.loads(p.value())["model_version"] for p in preds)
    assert versions == Counter({"1": produced}), versions

    # a version that loads but fails on some rows: isolated per event
    m.make_poisoned_torch(registry_dir, "6")
    m.promote(registry_dir, "6")
    _wait_metric(
        worker,
        lambda: worker.metric_sum("streamapp_model_reloads_total") >= 1,
        "hot swap to version 6",
    )
    good = good_events(1000, prefix=f"p{unique}-", seed=9)
    base = orjson.loads(good[0][1])["features"]
    poisoned = [
        (f"nan{unique}-{i}".encode(), event(f"nan-{i}", {**base, "salary": m.POISON_NAN}))
        for i in range(20)
    ] + [
        (f"raise{unique}-{i}".encode(), event(f"raise-{i}", {**base, "salary": m.POISON_RAISE}))
        for i in range(20)
    ]
    mixed = good[:500] + poisoned + good[500:]
    expected.update(k for k, _v in good)
    produce_all(bootstrap, rtopics.events, mixed)
    preds = read_values(bootstrap, rtopics.predictions, produced + len(good), timeout=120)
    dead = read_values(bootstrap, rtopics.dead_letter, len(poisoned), timeout=60)
    good_keys = {k for k, _v in good}
    after = Counter(orjson.loads(p.value())["model_version"] for p in preds if p.key() in good_keys)
    dead_keys = {d.key().decode(): orjson.loads(d.value())["reason"] for d in dead}
    record(
        scenario="broken models",
        load=f"{produced + len(mixed)} events while promoting 5 bad versions",
        faults="; ".join(f"v{v}: {w}" for v, w, _ in broken) + "; v6: NaN / raising rows",
        events_in=produced + len(mixed),
        predictions_out=len(preds),
        dead_letters=len(dead),
        lost=len(expected - {p.key() for p in preds}),
        duplicated=len(preds) - len({p.key() for p in preds}),
        rejected_versions=sum(rejected(v) for v, _w, _ in broken),
    )
    assert all(reason == "model_error" for reason in dead_keys.values()), dead_keys
    assert set(dead_keys) == {k.decode() for k, _v in poisoned}
    assert sum(after.values()) == len(good) and set(after) == {"6"}, after
    assert worker.alive() and worker.stop() == 0, worker.log_tail()
