"""Helpers for scoring tests: event payloads, an in-process worker, registry edits."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.registry.registry import ModelVersion, set_pointer, sha256_file
from streamapp.runtime.base import ScoringModel
from streamapp.scoring.worker import ScoringWorker, kafka_worker
from streamapp.training.synthetic import agrawal

Factory = Callable[[ModelVersion], ScoringModel]


def event(event_id: str, features: dict[str, Any], **extra: Any) -> bytes:
    body = {"event_id": event_id, "event_time": datetime.now(UTC).isoformat(), "features": features}
    body.update(extra)
    return orjson.dumps(body)


def good_events(n: int, prefix: str = "e", seed: int = 3) -> list[tuple[bytes, bytes]]:
    """``n`` valid Agrawal events keyed by their ids."""
    return [
        (f"{prefix}{i}".encode(), event(f"{prefix}{i}", x))
        for i, (x, _y) in enumerate(agrawal(n, seed))
    ]


@contextmanager
def running_worker(
    settings: Settings, factory: Factory | None = None, ready_timeout: float = 60.0
) -> Iterator[ScoringWorker]:
    """A ScoringWorker in a thread, ready (partitions assigned) before the body runs."""
    stop = threading.Event()
    worker = kafka_worker(
        settings, settings.kafka.bootstrap_servers or "", factory, CollectorRegistry(), stop
    )
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(worker.run()), daemon=True)
    thread.start()
    try:
        waiter = threading.Event()
        for _ in range(int(ready_timeout * 20)):
            if worker.ready or not thread.is_alive():
                break
            waiter.wait(0.05)
        assert worker.ready, "worker did not become ready"
        yield worker
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "worker did not stop"
    assert result == [0], f"worker exit code {result}"


def metric(worker: ScoringWorker, name: str, **labels: str) -> float:
    return worker.prometheus.get_sample_value(name, labels) or 0.0


def copy_version(registry_dir: Path, name: str, src: str, dst: str) -> Path:
    """Copy a version directory under a new version (manifest rewritten)."""
    target = registry_dir / name / dst
    shutil.copytree(registry_dir / name / src, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = dst
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def break_onnx(version_dir: Path) -> None:
    """Replace the ONNX artifact by garbage with a matching checksum (fails at load)."""
    art = version_dir / "model.onnx"
    art.write_bytes(b"not an onnx model")
    manifest = json.loads((version_dir / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["format"] == "onnx"]
    manifest["artifacts"][0]["sha256"] = sha256_file(art)
    (version_dir / "manifest.json").write_text(json.dumps(manifest))


def promote(registry_dir: Path, name: str, version: str, pointer: str = "production") -> None:
    set_pointer(registry_dir / name / pointer, version)


def read_n(
    bootstrap: str, topic: str, n: int, timeout: float = 60.0, keys: set[bytes] | None = None
) -> list[Any]:
    """Read ``topic`` from the beginning until ``n`` records arrived or ``timeout`` passed.

    With ``keys``: read until every key was seen (duplicates do not count).
    Uses ``assign`` (no consumer group): a group join on the embedded broker
    with librdkafka's default 45 s session timeout takes ~23 s.
    """
    import time

    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        missing = set(keys) if keys is not None else None
        while time.monotonic() < deadline:
            if (missing is None and len(out) >= n) or (missing is not None and not missing):
                break
            batch = [m for m in consumer.consume(1000, 0.2) if m.error() is None]
            out.extend(batch)
            if missing is not None:
                missing.difference_update(m.key() for m in batch)
        return out
    finally:
        consumer.close()
