"""Adaptive batcher decisions and bisection of poisoned rows."""

from __future__ import annotations

import numpy as np

from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.loader import load_model, reference_rows
from streamapp.scoring.batcher import AdaptiveBatcher
from streamapp.scoring.scorer import score_batch
from tests.conftest import MODELS
from tests.fixtures_models import POISON, ErrorModel, NaNModel


def test_light_load_small_batches_heavy_load_full_batches() -> None:
    light = AdaptiveBatcher(512, max_wait_s=0.02, latency_target_s=0.05)
    for _ in range(10):
        light.observe(received=2, waited_s=0.02)  # 100 events/s
        light.observe_inference(2, 0.0002)
    req = light.next_request()
    assert req.size < 16 and req.timeout_s <= 0.02
    heavy = AdaptiveBatcher(512, max_wait_s=0.02, latency_target_s=0.05)
    for _ in range(10):
        heavy.observe(received=512, waited_s=0.0005)  # backlog
        heavy.observe_inference(512, 0.002)
    assert heavy.next_request().size == 512


def test_slow_per_call_overhead_does_not_shrink_batches() -> None:
    b = AdaptiveBatcher(256, max_wait_s=0.02, latency_target_s=0.05)
    b.observe(received=256, waited_s=0.001)
    for rows in (1, 1, 256, 3, 128):
        b.observe_inference(rows, 0.03)  # fixed 30 ms per call
    assert b.fixed_cost_s > 0.02 and b.cost_per_event_s < 1e-4
    assert b.next_request().size == 256


def _model_and_rows() -> tuple[object, np.ndarray]:
    version = ModelRegistry(MODELS).resolve("agrawal-clf")
    return load_model(version, "onnx", "cpu"), reference_rows(version, 100)


def test_bisection_isolates_poisoned_rows() -> None:
    inner, rows = _model_and_rows()
    rows = rows.copy()
    poisoned = [3, 57, 58, 99]
    rows[poisoned, 0] = POISON
    for wrapper in (ErrorModel, NaNModel):
        model = wrapper(inner)  # type: ignore[arg-type]
        result = score_batch(model, rows)
        assert [i for i, _, _ in result.failed] == poisoned
        assert result.ok_rows == [i for i in range(100) if i not in poisoned]
        clean = inner.predict(np.delete(rows, poisoned, axis=0))  # type: ignore[attr-defined]
        assert np.allclose(result.outputs, clean, atol=1e-6)
        assert result.calls < 60


def test_healthy_batch_costs_one_call() -> None:
    inner, rows = _model_and_rows()
    model = ErrorModel(inner)  # type: ignore[arg-type]
    result = score_batch(model, rows)
    assert result.calls == 1 and not result.failed and len(result.ok_rows) == len(rows)


def test_the_batcher_counts_cost_units_so_long_texts_get_smaller_batches() -> None:
    """Same model, same arrival rate: inference cost fitted per character, so a stream of
    500-character texts gets the batch that fits the latency target for its cost: fill
    25 µs + 100 µs inference per event, against 25 + 10 for 50-character texts."""
    sizes = []
    for chars in (50, 500):
        b = AdaptiveBatcher(max_batch_size=4096, max_wait_s=0.05, latency_target_s=0.05)
        b.observe(received=4000, waited_s=0.1)  # 40k events/s offered
        for rows in (64, 128, 256, 512):
            b.observe_inference(rows, 0.001 + 2e-7 * rows * chars, units=rows * chars)
        sizes.append(b.next_request().size)
    short, long = sizes
    assert abs(long / short - 35 / 125) < 0.03, sizes
