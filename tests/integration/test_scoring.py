"""Scoring worker against the real embedded broker (in-process worker threads)."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from streamapp.config import Settings
from streamapp.sampling import SALT_CANARY, SALT_HOLDOUT, SALT_LOG, selected
from streamapp.schemas import DeadLetter, LoggedPrediction, Prediction
from tests.fixtures_models import POISON, ErrorModel, SlowModel, wrapping_factory
from tests.integration.conftest import produce_all
from tests.scoring_support import (
    break_onnx,
    copy_version,
    event,
    good_events,
    metric,
    promote,
    read_n,
    running_worker,
)

pytestmark = pytest.mark.integration

FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "commit_interval_ms": 100}


def _settings(make: Callable[..., Settings], unique: str, registry: Path, **kw: object) -> Settings:
    scoring = {**FAST, "group_id": f"g-{unique}", **kw.pop("scoring", {})}  # type: ignore[dict-item]
    return make(scoring=scoring, model={"registry": str(registry)}, **kw)


def _bad_events() -> list[tuple[bytes, str]]:
    x = orjson.loads(good_events(1)[0][1])["features"]
    return [
        (b"{not json", "invalid_json"),
        (b'{"event_id": "\xff\xfe"}', "invalid_utf8"),
        (orjson.dumps({"event_time": "2026-01-01T00:00:00+00:00", "features": x}),
         "schema_violation"),
        (orjson.dumps({"event_id": "naive", "event_time": "2026-01-01T00:00:00", "features": x}),
         "schema_violation"),
        (event("missing", {k: v for k, v in x.items() if k != "age"}), "missing_feature"),
        (event("unknown", {**x, "colour": 1}), "unknown_feature"),
        (event("wrongtype", {**x, "age": "old"}), "wrong_type"),
        (event("range", {**x, "age": 400}), "out_of_range"),
        (event("category", {**x, "car": 99}), "unknown_category"),
        (event("big", x, key="k" * 70000), "too_large"),
        (event("othermodel", x, model="nope"), "unknown_model"),
    ]


def test_n_events_in_exactly_n_predictions_and_dead_letters(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path, bootstrap: str
) -> None:
    n_good = 3000
    good = good_events(n_good)
    poisoned = [
        (f"p{i}".encode(), event(f"p{i}", {**orjson.loads(good[i][1])["features"],
                                          "salary": POISON}))
        for i in range(3)
    ]
    bad = _bad_events()
    records = good[:1500] + [(f"b{i}".encode(), v) for i, (v, _r) in enumerate(bad)]
    records += poisoned + good[1500:]
    settings = _settings(settings_factory, unique, model_registry_dir)
    topics = settings.topics
    produce_all(bootstrap, topics.events, records)
    with running_worker(settings, wrapping_factory(ErrorModel)) as worker:
        preds = read_n(bootstrap, topics.predictions, n_good)
        dlq = read_n(bootstrap, topics.dead_letter, len(bad) + len(poisoned))
        expected_log = sum(
            selected(k.decode(), SALT_HOLDOUT, 0.05) or selected(k.decode(), SALT_LOG, 0.2)
            for k, _ in good
        )
        logs = read_n(bootstrap, topics.prediction_log, expected_log)
    ids = [Prediction.model_validate_json(m.value()).event_id for m in preds]
    assert len(ids) == n_good and set(ids) == {k.decode() for k, _ in good}
    for m in preds[:50]:
        assert m.key() == orjson.loads(m.value())["event_id"].encode()
    holdout = {p.event_id for p in (Prediction.model_validate_json(m.value()) for m in preds)
               if p.holdout}
    assert holdout == {k.decode() for k, _ in good if selected(k.decode(), SALT_HOLDOUT, 0.05)}
    letters = [DeadLetter.model_validate_json(m.value()) for m in dlq]
    reasons = Counter(d.reason.value for d in letters)
    assert reasons == Counter([r for _v, r in bad] + ["model_error"] * 3)
    assert all(dict(m.headers())["reason"] == orjson.loads(m.value())["reason"].encode()
               for m in dlq)
    assert {d.detail for d in letters if d.reason.value == "model_error"} == {
        "RuntimeError: poisoned row"}
    assert all(d.source_topic == topics.events for d in letters)
    logged = [LoggedPrediction.model_validate_json(m.value()) for m in logs]
    assert len(logged) == expected_log and all(len(lp.features) == 9 for lp in logged)
    assert metric(worker, "streamapp_dead_letter_total", reason="invalid_json",
                  model="agrawal-clf") == 1
    assert metric(worker, "streamapp_predictions_total", model="agrawal-clf", version="1",
                  variant="primary") == n_good
    # every input offset was committed after its outputs were acknowledged
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{unique}"})
    try:
        committed = consumer.committed(
            [TopicPartition(topics.events, p) for p in range(topics.partitions)], timeout=10
        )
    finally:
        consumer.close()
    assert sum(max(tp.offset, 0) for tp in committed) == len(records)


def test_canary_share_and_shadow_logs_both(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path, bootstrap: str
) -> None:
    copy_version(model_registry_dir, "agrawal-clf", "1", "2")
    promote(model_registry_dir, "agrawal-clf", "2", "candidate")
    n = 4000
    records = good_events(n)
    share = 0.3
    settings = _settings(
        settings_factory, unique, model_registry_dir,
        sampling={"candidate_mode": "canary", "canary_share": share, "holdout_rate": 0.0},
    )
    produce_all(bootstrap, settings.topics.events, records)
    with running_worker(settings):
        preds = [orjson.loads(m.value()) for m in read_n(bootstrap, settings.topics.predictions, n)]
    canary = {p["event_id"] for p in preds if p["variant"] == "canary"}
    assert all(p["model_version"] == ("2" if p["variant"] == "canary" else "1") for p in preds)
    assert canary == {k.decode() for k, _ in records if selected(k.decode(), SALT_CANARY, share)}
    sigma = math.sqrt(n * share * (1 - share))
    assert abs(len(canary) - n * share) < 4 * sigma
    assert len(preds) == n



def test_shadow_scores_both_publishes_primary_logs_both(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path, bootstrap: str
) -> None:
    copy_version(model_registry_dir, "agrawal-clf", "1", "2")
    promote(model_registry_dir, "agrawal-clf", "2", "candidate")
    n = 3000
    records = good_events(n)
    settings = _settings(
        settings_factory, unique, model_registry_dir,
        sampling={"candidate_mode": "shadow", "log_rate": 0.5, "holdout_rate": 0.0},
    )
    produce_all(bootstrap, settings.topics.events, records)
    expected = sum(selected(k.decode(), SALT_LOG, 0.5) for k, _ in records)
    with running_worker(settings):
        logs = [orjson.loads(m.value())
                for m in read_n(bootstrap, settings.topics.prediction_log, 2 * expected)]
        published = read_n(bootstrap, settings.topics.predictions, n)
    by_variant = Counter((lp["variant"], lp["model_version"]) for lp in logs)
    assert by_variant == {("primary", "1"): expected, ("shadow", "2"): expected}
    shadow_ids = {lp["event_id"] for lp in logs if lp["variant"] == "shadow"}
    assert shadow_ids == {lp["event_id"] for lp in logs if lp["variant"] == "primary"}
    assert len(shadow_ids) == expected
    variants = Counter(orjson.loads(m.value())["variant"] for m in published)
    assert variants == {"primary": n}


def test_hot_reload_new_version_and_broken_artifact_under_load(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path, bootstrap: str
) -> None:
    copy_version(model_registry_dir, "agrawal-clf", "1", "2")
    broken = copy_version(model_registry_dir, "agrawal-clf", "1", "3")
    break_onnx(broken)
    settings = _settings(settings_factory, unique, model_registry_dir,
                         scoring={"reload_poll_ms": 50, "max_batch_size": 64})
    pool = good_events(500)
    produced: list[bytes] = []
    stop = threading.Event()

    def feed() -> None:  # steady load until the test is done swapping
        i = 0
        while not stop.is_set():
            batch = [(f"h{i + j}".encode(), event(f"h{i + j}", orjson.loads(v)["features"]))
                     for j, (_k, v) in enumerate(pool[(i % 500) : (i % 500) + 50])]
            produce_all(bootstrap, settings.topics.events, batch)
            produced.extend(k for k, _ in batch)
            i += len(batch)
            stop.wait(0.01)

    def wait_for(predicate: Callable[[], bool]) -> bool:
        waiter = threading.Event()
        for _ in range(600):
            if predicate():
                return True
            waiter.wait(0.05)
        return False

    def served(version: str) -> float:
        return metric(worker, "streamapp_predictions_total", model="agrawal-clf",
                      version=version, variant="primary")

    with running_worker(settings) as worker:
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            assert wait_for(lambda: served("1") >= 500)
            promote(model_registry_dir, "agrawal-clf", "2")
            assert wait_for(lambda: served("2") > 0)
            promote(model_registry_dir, "agrawal-clf", "3")
            assert wait_for(lambda: metric(worker, "streamapp_model_rejects_total",
                                           model="agrawal-clf", version="3") == 1)
            after_reject = served("2")
            assert wait_for(lambda: served("2") >= after_reject + 500)  # old version serves on
            assert worker.watcher.slots.primary.version == "2"
        finally:
            stop.set()
            feeder.join(60)
        keys = set(produced)
        preds = read_n(bootstrap, settings.topics.predictions, 0, 60, keys=keys)
        assert metric(worker, "streamapp_model_reloads_total", model="agrawal-clf",
                      slot="primary") == 1
    assert {m.key() for m in preds} == keys
    assert read_n(bootstrap, settings.topics.dead_letter, 1, timeout=2) == []
    versions = Counter(orjson.loads(m.value())["model_version"] for m in preds)
    assert set(versions) == {"1", "2"}


def test_overload_pauses_partitions_bounds_memory_and_loses_nothing(
    settings_factory: Callable[..., Settings], unique: str, model_registry_dir: Path, bootstrap: str
) -> None:
    import psutil

    high = 1500
    settings = _settings(
        settings_factory, unique, model_registry_dir,
        scoring={"max_inflight_events": high, "max_batch_size": 256, "scorer_threads": 2},
    )
    n = 12000
    records = good_events(n)
    produce_all(bootstrap, settings.topics.events, records)
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    peak_inflight = 0
    peak_rss = rss_before
    peak_lag = peak_paused = 0.0
    factory = wrapping_factory(lambda m: SlowModel(m, per_batch_s=0.03))
    with running_worker(settings, factory) as worker:
        got: list[object] = []
        reader = threading.Thread(
            target=lambda: got.extend(read_n(bootstrap, settings.topics.predictions, n)),
            daemon=True,
        )
        reader.start()
        waiter = threading.Event()
        while reader.is_alive():
            peak_inflight = max(peak_inflight, worker.inflight_events)
            peak_rss = max(peak_rss, proc.memory_info().rss)
            lag = sum(
                metric(worker, "streamapp_consumer_lag", topic=settings.topics.events,
                       partition=str(p), group=settings.scoring.group_id,
                       model=settings.model.name)
                for p in range(settings.topics.partitions)
            )
            peak_lag = max(peak_lag, lag)
            peak_paused = max(peak_paused, metric(worker, "streamapp_paused_partitions"))
            waiter.wait(0.02)
        pauses = metric(worker, "streamapp_backpressure_pauses_total")
    assert len({m.key() for m in got}) == n  # type: ignore[attr-defined]
    assert pauses >= 1 and peak_paused == settings.topics.partitions
    assert 0 < peak_lag <= n  # end offset (ListOffsets) - position, never more than produced
    # paused at the high watermark; one fetch may land on top of it
    assert peak_inflight <= high + 256
    # stated bound: the worker adds < 200 MB RSS while overloaded (fetch queue + in-flight)
    assert peak_rss - rss_before < 200 * 1024 * 1024


def test_a_tensor_model_scores_json_arrays_and_base64_and_dead_letters_bad_tensors(
    settings_factory: Callable[..., Settings], unique: str, tmp_path: Path, bootstrap: str
) -> None:
    """A multi-input TorchScript model (a 4x4 tensor and a scalar) on Apache Kafka: every good
    event scored once whatever its encoding, every bad tensor dead-lettered with its reason
    and original bytes."""
    import base64

    from tests.tensor_models import NAME, features_json, sample, write_version
    from tests.tensor_models import event as tensor_event

    write_version(tmp_path)
    pixels, age = sample(1000, 5)
    good = [(f"e{i}".encode(), tensor_event(f"e{i}", features_json(pixels[i], age[i], i % 2 == 0)))
            for i in range(1000)]
    bad = [
        (b"shape", tensor_event("shape", {"pixels": pixels[0][:2].tolist(), "age": 1.0})),
        (b"b64", tensor_event("b64", {"pixels": "%%%", "age": 1.0})),
        (b"nan", tensor_event("nan", {"pixels": base64.b64encode(
            np.full(16, np.inf, "<f4").tobytes()).decode(), "age": 1.0})),
    ]
    settings = settings_factory(scoring={**FAST, "group_id": f"g-{unique}"},
                                model={"registry": str(tmp_path), "name": NAME})
    topics = settings.topics
    produce_all(bootstrap, topics.events, good[:500] + bad + good[500:])
    with running_worker(settings):
        preds = [Prediction.model_validate_json(m.value())
                 for m in read_n(bootstrap, topics.predictions, 1000)]
        dlq = [DeadLetter.model_validate_json(m.value())
               for m in read_n(bootstrap, topics.dead_letter, 3)]
    assert sorted(p.event_id for p in preds) == sorted(k.decode() for k, _ in good)
    assert {(p.model_name, p.model_version) for p in preds} == {(NAME, "1")}
    assert sorted(d.reason.value for d in dlq) == ["invalid_base64", "non_finite", "wrong_shape"]
    originals = {base64.b64decode(d.original_b64) for d in dlq}
    assert originals == {v for _, v in bad}
