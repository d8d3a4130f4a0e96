"""The processing contract: pre/post processors loaded at validation, checked, bisected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from streamapp.metrics.common import ModelMetrics
from streamapp.registry.registry import ModelRegistry, ModelVersion, RegistryError
from streamapp.runtime.base import ModelLoadError
from streamapp.runtime.loader import load_model, reference_rows
from streamapp.scoring.reload import ModelWatcher
from streamapp.scoring.scorer import score_batch
from streamapp.testing import ConformanceError, check_processor, check_scoring_model
from tests.scoring_support import copy_version, promote
from tests.unit.runtime import processors as p

MOD = "tests.unit.runtime.processors"


def _processed(root: Path, version: str, **processing: Any) -> ModelVersion:
    target = copy_version(root, "friedman-reg", "1", version)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["processing"] = processing
    (target / "manifest.json").write_text(json.dumps(manifest))
    return ModelRegistry(root).get("friedman-reg", version)


def test_pre_and_post_wrap_the_artifact(model_registry_dir: Path) -> None:
    plain = ModelRegistry(model_registry_dir).get("friedman-reg", "1")
    version = _processed(
        model_registry_dir, "2", pre=f"{MOD}:Scaled", input_width=10, post=f"{MOD}:double",
        output_width=1,
    )
    rows = reference_rows(plain, 64)
    model = load_model(version, "onnx", "cpu")
    expected = load_model(plain, "onnx", "cpu").predict(rows) * 2
    assert np.allclose(model.predict(rows), expected, rtol=1e-6)
    check_scoring_model(model, rows)


def test_a_processor_raising_on_a_batch_is_bisected_like_a_model_error(
    model_registry_dir: Path,
) -> None:
    model = load_model(_processed(model_registry_dir, "2", pre=f"{MOD}:poison", input_width=10),
                       "onnx", "cpu")
    rows = reference_rows(ModelRegistry(model_registry_dir).get("friedman-reg", "1"), 32).copy()
    rows[[5, 17], 0] = p.POISON
    result = score_batch(model, rows)
    assert [i for i, _, _ in result.failed] == [5, 17]
    assert "poisoned row" in result.failed[0][2]
    assert len(result.ok_rows) == 30


@pytest.mark.parametrize(
    ("processing", "match"),
    [
        ({"pre": "tests.unit.runtime.nowhere:f", "input_width": 10}, "cannot import"),
        ({"pre": f"{MOD}:missing", "input_width": 10}, "has no attribute"),
        ({"pre": f"{MOD}:POISON", "input_width": 10}, "not callable"),
        ({"pre": f"{MOD}:too_narrow", "input_width": 10}, r"shape \(256, 3\), expected"),
        ({"pre": f"{MOD}:batch_dependent", "input_width": 10}, "must not depend on the rest"),
        ({"pre": f"{MOD}:mutating", "input_width": 10}, "modified its input"),
        ({"pre": f"{MOD}:stack", "input_width": 4}, "input width 10 != manifest 4"),
    ],
)
def test_broken_processors_get_the_version_rejected(
    model_registry_dir: Path, processing: dict[str, Any], match: str
) -> None:
    version = _processed(model_registry_dir, "2", **processing)
    with pytest.raises(ModelLoadError, match=match):
        load_model(version, "onnx", "cpu")


def test_serving_version_keeps_serving_when_a_processor_is_broken(
    model_registry_dir: Path,
) -> None:
    _processed(model_registry_dir, "2", pre=f"{MOD}:too_narrow", input_width=10)
    reg = CollectorRegistry()
    watcher = ModelWatcher(
        ModelRegistry(model_registry_dir), "friedman-reg",
        lambda v: load_model(v, "onnx", "cpu"), ModelMetrics(reg), 65536,
    )
    promote(model_registry_dir, "friedman-reg", "2")
    watcher.poll_once()
    assert watcher.slots.primary.version == "1"
    labels = {"model": "friedman-reg", "version": "2"}
    assert reg.get_sample_value("streamapp_model_rejects_total", labels) == 1


def test_check_processor_accepts_dataframes_and_reports_every_failure() -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": np.arange(8.0), "b": np.ones(8)})
    out = check_processor(p.stack, frame, width=2)
    assert out.dtype == np.float32 and out.shape == (8, 2)
    with pytest.raises(ConformanceError) as info:
        check_processor(p.mutating, {"a": np.arange(8.0), "b": np.arange(8.0)})
    assert any("modified its input" in f for f in info.value.failures)
    with pytest.raises(ConformanceError, match="raised ValueError"):
        check_processor(p.poison, {"a": np.full(4, p.POISON)})


def test_manifest_requires_widths_and_import_paths(model_registry_dir: Path) -> None:
    with pytest.raises(RegistryError, match=r"needs processing\.input_width"):
        _processed(model_registry_dir, "2", pre=f"{MOD}:stack")
    with pytest.raises(RegistryError, match="not an import path"):
        _processed(model_registry_dir, "3", pre="stack me", input_width=10)


def test_the_checks_live_with_the_runtime_and_the_test_kit_re_exports_them() -> None:
    """The loader runs the runtime's own checks; ``streamapp.testing`` (and its old
    ``streamapp.testing.checks`` path) hands users the very same functions."""
    from streamapp.runtime import checks
    from streamapp.testing import checks as kit_checks

    assert check_processor is checks.check_processor is kit_checks.check_processor
    assert check_scoring_model is checks.check_scoring_model
    assert ConformanceError is checks.ConformanceError is kit_checks.ConformanceError
