"""Tensor features end to end in one process: decode, score (both runtimes), dead letters
with a reason each, prediction-log sketches the monitor bins."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.inputs import FeatureBatch
from streamapp.inputs.sketch import PROJECTIONS
from streamapp.registry.manifest import ReferenceProfile
from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.loader import load_model
from streamapp.scoring.decode import Decoder
from streamapp.scoring.worker import ScoringWorker
from streamapp.statistics.spec import ModelSpec
from streamapp.testing import InMemorySink, InMemorySource
from tests.tensor_models import NAME, event, features_json, manifest, sample, write_version

TOPIC = "events"


class _Rec:
    def __init__(self, value: bytes | None, offset: int = 0) -> None:
        self._value, self._offset = value, offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


def _bad(pixels: np.ndarray) -> list[tuple[bytes, str]]:
    good = features_json(pixels, 30)
    nan = base64.b64encode(np.full((4, 4), np.nan, "<f4").tobytes()).decode()
    return [
        (event("shape", {**good, "pixels": pixels[:3].tolist()}), "wrong_shape"),
        (event("short", {**good, "pixels": base64.b64encode(b"\0" * 60).decode()}),
         "wrong_shape"),
        (event("dtype", {**good, "pixels": [["x"] * 4] * 4}), "wrong_dtype"),
        (event("b64", {**good, "pixels": "not base64!"}), "invalid_base64"),
        (event("nan", {**good, "pixels": nan}), "non_finite"),
        (event("range", {**good, "pixels": (pixels + 2).tolist()}), "out_of_range"),
        (event("missing", {"age": 3.0}), "missing_feature"),
        (event("extra", {**good, "colour": 1}), "unknown_feature"),
        (event("scalar", {**good, "age": 500}), "out_of_range"),
        (event("type", {**good, "pixels": 3}), "wrong_type"),
    ]


def test_json_arrays_and_base64_decode_to_the_same_tensors(tmp_path: Path) -> None:
    pixels, age = sample(64, 1)
    decoder = Decoder(manifest(), 1 << 20)
    for binary in (False, True):
        records = [_Rec(event(f"e{i}", features_json(pixels[i], age[i], binary)), i)
                   for i in range(64)]
        batch = decoder.decode(records)
        assert isinstance(batch.matrix, FeatureBatch) and not batch.errors
        np.testing.assert_array_equal(batch.matrix.columns["pixels"], pixels)
        np.testing.assert_array_equal(batch.matrix.matrix[:, 0], age)


def test_every_bad_value_is_rejected_with_its_reason_and_the_rest_decode() -> None:
    pixels, age = sample(40, 2)
    bad = _bad(pixels[0])
    records = [_Rec(event(f"e{i}", features_json(pixels[i], age[i])), i) for i in range(40)]
    records[5:5] = [_Rec(v, 100 + j) for j, (v, _) in enumerate(bad)]
    batch = Decoder(manifest(), 1 << 20).decode(records)
    assert sorted((e.record.offset(), e.reason.value) for e in batch.errors) == [
        (100 + j, reason) for j, (_, reason) in enumerate(bad)]
    assert batch.event_ids == [f"e{i}" for i in range(40)]
    assert isinstance(batch.matrix, FeatureBatch)
    np.testing.assert_array_equal(batch.matrix.columns["pixels"], pixels)


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_both_runtimes_feed_named_inputs_and_pick_the_named_output(
    tmp_path: Path, runtime: str
) -> None:
    write_version(tmp_path)
    version = ModelRegistry(tmp_path).resolve(NAME)
    model = load_model(version, runtime, "cpu")
    pixels, age = sample(8, 3)
    out = model.score(FeatureBatch(age.reshape(-1, 1), {"pixels": pixels}))
    assert out.shape == (8, 3) and np.allclose(out.sum(axis=1), 1, atol=1e-5)
    other = load_model(version, "onnx" if runtime == "torch" else "torch", "cpu")
    np.testing.assert_allclose(
        other.score(FeatureBatch(age.reshape(-1, 1), {"pixels": pixels})), out, atol=1e-5)


@pytest.mark.parametrize("log_inputs", [False, True])
def test_a_worker_scores_a_tensor_model_and_logs_sketches_the_monitor_bins(
    tmp_path: Path, log_inputs: bool
) -> None:
    write_version(tmp_path)
    pixels, age = sample(300, 4)
    records = [(f"e{i}".encode(), event(f"e{i}", features_json(pixels[i], age[i], i % 2 == 1)))
               for i in range(300)]
    bad = _bad(pixels[0])
    records += [(f"b{j}".encode(), v) for j, (v, _) in enumerate(bad)]
    settings = Settings(
        kafka={"bootstrap_servers": "unused:9092"}, topics={"events": TOPIC},
        model={"registry": str(tmp_path), "name": NAME},
        scoring={"max_batch_size": 64}, sampling={"log_rate": 1.0, "log_inputs": log_inputs},
    )
    source, sink = InMemorySource(records, 2, TOPIC), InMemorySink()
    worker = ScoringWorker(settings, source, sink, prometheus=CollectorRegistry())
    topics = settings.topics
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    waiter = threading.Event()
    for _ in range(3000):
        if len(sink.values(topics.predictions)) >= 300 and len(
                sink.values(topics.dead_letter)) >= len(bad):
            break
        waiter.wait(0.01)
    worker.stop_event.set()
    thread.join(30)
    preds = [orjson.loads(v) for v in sink.values(topics.predictions)]
    assert sorted(p["event_id"] for p in preds) == sorted(f"e{i}" for i in range(300))
    assert {p["model_name"] for p in preds} == {NAME}
    dead = sorted(orjson.loads(v)["reason"] for v in sink.values(topics.dead_letter))
    assert dead == sorted(r for _, r in bad)
    logged = [orjson.loads(v) for v in sink.values(topics.prediction_log)]
    assert len(logged) == 300
    columns = {"age", "pixels.rms", *(f"pixels.proj{j}" for j in range(PROJECTIONS))}
    assert all(set(r["features"]) == columns for r in logged)  # no raw pixels in features
    assert all(("inputs" in r) is log_inputs for r in logged)
    if log_inputs:  # the event's features as sent (nested arrays or base64)
        first = next(r for r in logged if r["event_id"] == "e0")
        assert first["inputs"] == features_json(pixels[0], age[0], False)
    version = ModelRegistry(tmp_path).resolve(NAME)
    spec = ModelSpec(version.manifest, ReferenceProfile.load(version.path))
    assert {c.name for c in spec.columns} == columns

    class _Logged:
        def __init__(self, record: dict[str, object]) -> None:
            self.features = record["features"]
            self.scores = record["scores"]
            self.predicted_label = record["predicted_label"]
            self.predicted_value = None

    hist, quality = spec.histograms([_Logged(r) for r in logged])  # type: ignore[misc]
    assert all(sum(hist[c]) == 300 for c in columns) and not quality


def test_under_10x_overload_no_batch_exceeds_the_byte_bound(tmp_path: Path) -> None:
    """10 times more queued bytes than one batch may hold: every event is scored, and every model
    call sees at most ``max_batch_bytes`` worth of events."""
    from streamapp.runtime.base import ModelRows, ScoringModel

    write_version(tmp_path)
    pixels, age = sample(2000, 6)
    records = [(f"e{i}".encode(), event(f"e{i}", features_json(pixels[i], age[i])))
               for i in range(2000)]
    event_bytes = max(len(v) for _, v in records)
    limit = 64 * 1024
    sizes: list[int] = []

    def factory(version: object) -> ScoringModel:
        model = load_model(version, "onnx", "cpu")  # type: ignore[arg-type]
        score = model.score

        def recording(rows: ModelRows) -> np.ndarray:
            sizes.append(len(rows))
            return score(rows)

        model.score = recording  # type: ignore[method-assign]
        return model

    settings = Settings(
        kafka={"bootstrap_servers": "unused:9092"}, topics={"events": TOPIC},
        model={"registry": str(tmp_path), "name": NAME},
        scoring={"max_batch_size": 2000, "max_batch_bytes": limit, "scorer_threads": 0},
    )
    assert len(records) * event_bytes > 10 * limit
    source, sink = InMemorySource(records, 1, TOPIC), InMemorySink()
    worker = ScoringWorker(settings, source, sink, factory, prometheus=CollectorRegistry())
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    waiter = threading.Event()
    for _ in range(3000):
        if len(sink.values(settings.topics.predictions)) >= 2000:
            break
        waiter.wait(0.01)
    worker.stop_event.set()
    thread.join(30)
    assert len(sink.values(settings.topics.predictions)) == 2000
    assert sizes and max(sizes) <= limit // min(len(v) for _, v in records)


def test_a_failing_processor_sketch_leaves_its_columns_out_and_scoring_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from streamapp.inputs.sketch import Sketcher

    class Broken:
        def sketch(self, columns: object) -> dict[str, np.ndarray]:
            raise RuntimeError("tokenizer exploded")

    pixels, age = sample(3, 9)
    rows = Sketcher(manifest(), Broken()).json_rows(FeatureBatch(age.reshape(-1, 1),
                                                                 {"pixels": pixels}))
    assert [set(orjson.loads(r)) for r in rows] == [
        {"age", "pixels.rms", *(f"pixels.proj{j}" for j in range(PROJECTIONS))}] * 3
    assert "tokenizer exploded" in caplog.text


def test_a_model_with_no_scalar_feature_decodes() -> None:
    """Only a tensor: the scalar matrix is (n, 0) and the fast and per-record paths agree."""
    only = manifest().model_copy(update={"features": manifest().features[:1]})
    pixels, _ = sample(40, 10)
    decoder = Decoder(only, 1 << 20)
    good = [_Rec(event(f"e{i}", {"pixels": pixels[i].tolist()}), i) for i in range(40)]
    fast = decoder.decode(good)
    slow = decoder.decode([*good[:20], _Rec(b"{not json", 99), *good[20:]])
    for batch in (fast, slow):
        assert isinstance(batch.matrix, FeatureBatch) and batch.matrix.matrix.shape == (40, 0)
        np.testing.assert_array_equal(batch.matrix.columns["pixels"], pixels)
    assert [e.reason.value for e in slow.errors] == ["invalid_json"]
