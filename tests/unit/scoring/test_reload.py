"""Hot reload watcher: swaps validated versions, rejects broken ones, keeps serving."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from streamapp.metrics.common import ModelMetrics
from streamapp.registry.registry import ModelRegistry, ModelVersion
from streamapp.runtime.base import ScoringModel
from streamapp.runtime.loader import load_model
from streamapp.scoring.reload import ModelWatcher
from tests.scoring_support import break_onnx, copy_version, promote


def _factory(version: ModelVersion) -> ScoringModel:
    return load_model(version, "onnx", "cpu")


def test_swap_reject_and_candidate(model_registry_dir: Path) -> None:
    reg = CollectorRegistry()
    metrics = ModelMetrics(reg)
    copy_version(model_registry_dir, "agrawal-clf", "1", "2")
    break_onnx(copy_version(model_registry_dir, "agrawal-clf", "1", "3"))
    watcher = ModelWatcher(ModelRegistry(model_registry_dir), "agrawal-clf", _factory, metrics,
                           65536, candidate_pointer="candidate")
    first = watcher.slots
    assert first.primary.version == "1" and first.candidate is None

    promote(model_registry_dir, "agrawal-clf", "2")
    watcher.poll_once()
    assert watcher.slots.primary.version == "2" and watcher.slots is not first
    assert reg.get_sample_value("streamapp_model_reloads_total",
                                {"model": "agrawal-clf", "slot": "primary"}) == 1

    promote(model_registry_dir, "agrawal-clf", "3")
    watcher.poll_once()
    watcher.poll_once()  # the same broken pointer state is not retried
    assert watcher.slots.primary.version == "2"
    assert reg.get_sample_value("streamapp_model_rejects_total",
                                {"model": "agrawal-clf", "version": "3"}) == 1

    promote(model_registry_dir, "agrawal-clf", "1", "candidate")
    watcher.poll_once()
    assert watcher.slots.candidate is not None and watcher.slots.candidate.version == "1"
    ModelRegistry(model_registry_dir).clear("agrawal-clf", "candidate")
    watcher.poll_once()
    assert watcher.slots.candidate is None
    assert watcher.slots.primary.version == "2"


def test_background_thread_picks_up_promotion(model_registry_dir: Path) -> None:
    import threading

    copy_version(model_registry_dir, "agrawal-clf", "1", "2")
    watcher = ModelWatcher(ModelRegistry(model_registry_dir), "agrawal-clf", _factory,
                           ModelMetrics(CollectorRegistry()), 65536, poll_s=0.02).start()
    try:
        promote(model_registry_dir, "agrawal-clf", "2")
        waiter = threading.Event()
        for _ in range(500):
            if watcher.slots.primary.version == "2":
                break
            waiter.wait(0.02)
        assert watcher.slots.primary.version == "2"
    finally:
        watcher.stop()
