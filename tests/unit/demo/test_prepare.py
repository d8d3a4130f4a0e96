from __future__ import annotations

from pathlib import Path

import pytest

from streamapp.config import Settings
from streamapp.demo.prepare import (
    DEMO_VERDICT_MIN_SAMPLES,
    DemoOptions,
    child_env,
    prepare_registry,
)
from streamapp.registry.registry import ModelRegistry


def test_registry_copy_serves_version_1_and_leaves_the_source_alone(
    model_registry_dir: Path, tmp_path: Path
) -> None:
    source = ModelRegistry(model_registry_dir)
    source.promote("agrawal-clf", "1", "candidate")  # a stray pointer must not be copied
    before = sorted(p.name for p in (model_registry_dir / "agrawal-clf").iterdir())
    target = tmp_path / "out" / "models"
    (target / "stale").mkdir(parents=True)
    steps: list[str] = []
    serving = prepare_registry(model_registry_dir, target, 1, lambda n, d, t: steps.append(n))
    assert serving.version == "1" and serving.path == target / "agrawal-clf" / "1"
    copy = ModelRegistry(target)
    assert copy.pointer("agrawal-clf") == "1"
    assert copy.pointer("agrawal-clf", "candidate") is None
    assert not (target / "stale").exists()
    assert steps == ["copied committed version 1"]
    assert sorted(p.name for p in (model_registry_dir / "agrawal-clf").iterdir()) == before


def test_child_env_sets_cluster_topics_and_tuning_but_keeps_user_choices(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STREAMAPP_SAMPLING__LOG_RATE", "0.3")
    monkeypatch.setenv("STREAMAPP_MODEL__NAME", "something-else")
    settings = Settings(topics={"events": "my.events"})
    env = child_env(settings, "127.0.0.1:9", tmp_path, "r1", True, DemoOptions(rate=100))
    assert env["STREAMAPP_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:9"
    assert env["STREAMAPP_TOPICS__EVENTS"] == "my.events"
    assert env["STREAMAPP_MODEL__NAME"] == "agrawal-clf"  # the demo must own this one
    assert env["STREAMAPP_SAMPLING__LOG_RATE"] == "0.3"  # the user's choice wins over tuning
    assert env["STREAMAPP_RETRAIN__MIN_SAMPLES"] == "540"
    groups = {
        env["STREAMAPP_SCORING__GROUP_ID"],
        env["STREAMAPP_MONITORING__APP_ID"],
        env["STREAMAPP_RETRAIN__GROUP_ID"],
    }
    assert len(groups) == 3  # one group per role: a shared id breaks the faust group join
    monkeypatch.setattr("os.environ", env)
    from streamapp.config import load_settings

    loaded = load_settings()
    assert loaded.monitoring.policy.min_samples == 200
    assert loaded.retrain.min_samples == 540
    # the shadow path: candidate pointer, shadow scoring, the retrainer acts on the verdict
    assert loaded.retrain.promote_to == "candidate"
    assert loaded.retrain.promotion_actor == "retrainer"
    assert loaded.sampling.candidate_mode == "shadow"
    assert loaded.monitoring.verdicts.min_samples == DEMO_VERDICT_MIN_SAMPLES


def test_default_drift_point_is_a_third_of_the_run() -> None:
    assert DemoOptions(duration_s=90).plan().drift_at_s == 30
    assert DemoOptions(duration_s=90, drift_at_s=10).plan().drift_at_s == 10


def test_child_env_owns_the_topic_formats(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STREAMAPP_FORMATS__EVENTS", "protobuf")  # the demo's traffic decides
    monkeypatch.setenv("STREAMAPP_FORMATS__FEATURES", '{"age": "customer.age"}')
    settings = Settings()
    env = child_env(settings, "127.0.0.1:9", tmp_path, "r1", True, DemoOptions())
    assert env["STREAMAPP_FORMATS__EVENTS"] == env["STREAMAPP_FORMATS__PREDICTIONS"] == "json"
    url = "http://127.0.0.1:7/apis/ccompat/v7"
    env = child_env(settings, "127.0.0.1:9", tmp_path, "r1", True, DemoOptions(format="avro"),
                    url)
    monkeypatch.setattr("os.environ", env)
    from streamapp.config import load_settings

    loaded = load_settings()
    assert loaded.schema_registry.url == url
    assert (loaded.formats.events, loaded.formats.labels, loaded.formats.predictions) == (
        "avro", "avro", "avro")
    assert loaded.formats.features == {}
    with pytest.raises(ValueError, match="registry"):
        child_env(settings, "127.0.0.1:9", tmp_path, "r1", True, DemoOptions(format="avro"))
