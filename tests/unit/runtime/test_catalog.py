"""The runtime registry: built-ins and a third-party runtime register through one route."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamapp.registry.registry import ModelRegistry, sha256_file
from streamapp.runtime.base import ModelLoadError
from streamapp.runtime.catalog import (
    BUILTIN_RUNTIMES,
    RuntimeCatalog,
    RuntimeEntry,
    runtime_catalog,
)
from streamapp.runtime.loader import load_model
from streamapp.settings.model import ModelSettings
from tests.scoring_support import copy_version

LINEAR = RuntimeEntry(
    name="numpy-linear",
    format="npy-linear",
    implementation="tests.unit.runtime.thirdparty:NumpyLinear",
)


def _linear_version(root: Path) -> Path:
    """A friedman-reg version whose only artifact is a numpy-linear weight file."""
    target = copy_version(root, "friedman-reg", "1", "7")
    np.save(target / "weights.npy", np.ones((10, 1), dtype=np.float32), allow_pickle=False)
    manifest = json.loads((target / "manifest.json").read_text())
    digest = sha256_file(target / "weights.npy")
    manifest["artifacts"] = [{"format": "npy-linear", "path": "weights.npy", "sha256": digest}]
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_builtins_are_plain_entries_in_preference_order() -> None:
    registry = RuntimeCatalog()
    assert registry.entries == list(BUILTIN_RUNTIMES)
    assert [e.implementation for e in registry.entries] == [
        "streamapp.runtime.onnx:OnnxModel",
        "streamapp.runtime.torch:TorchModel",
    ]
    assert registry.for_format("torchscript") == registry.get("torch")


def test_third_party_runtime_loads_through_the_same_route(model_registry_dir: Path) -> None:
    _linear_version(model_registry_dir)
    version = ModelRegistry(model_registry_dir).get("friedman-reg", "7")
    runtimes = RuntimeCatalog([LINEAR])
    model = load_model(version, "auto", "cpu", runtimes=runtimes)
    assert model.runtime == "numpy-linear"
    rows = np.eye(10, dtype=np.float32)
    assert np.array_equal(model.predict(rows), np.ones((10, 1), dtype=np.float32))
    with pytest.raises(ModelLoadError, match="no artifact for runtime auto"):
        load_model(version, "auto", "cpu")  # not registered: named in the error


def test_unknown_runtime_and_bad_implementations_fail_clearly(model_registry_dir: Path) -> None:
    version = ModelRegistry(model_registry_dir).get("friedman-reg", "1")
    with pytest.raises(ModelLoadError, match="unknown runtime 'tvm'; known: onnx, torch"):
        load_model(version, "tvm", "cpu")
    _linear_version(model_registry_dir)
    linear = ModelRegistry(model_registry_dir).get("friedman-reg", "7")
    for impl, match in [
        ("tests.unit.runtime.nowhere:Model", "cannot import"),
        ("tests.unit.runtime.thirdparty:Missing", "has no attribute"),
        ("tests.unit.runtime.thirdparty:NOT_A_RUNTIME", "not a ScoringModel subclass"),
    ]:
        entry = RuntimeEntry(name="numpy-linear", format="npy-linear", implementation=impl)
        with pytest.raises(ModelLoadError, match=match):
            load_model(linear, "numpy-linear", "cpu", runtimes=RuntimeCatalog([entry]))


def test_settings_name_runtimes_and_reject_unknown_ones() -> None:
    settings = ModelSettings(runtime="numpy-linear", runtimes=[LINEAR])
    assert runtime_catalog(settings).names == ["onnx", "torch", "numpy-linear"]
    with pytest.raises(ValueError, match="not one of auto, onnx, torch"):
        ModelSettings(runtime="tvm")
    with pytest.raises(ValueError, match="both load format 'onnx'"):
        ModelSettings(runtimes=[RuntimeEntry(name="ort2", format="onnx", implementation="a.b:C")])
    with pytest.raises(ValueError, match="not an import path"):
        RuntimeEntry(name="x", format="x", implementation="not a path")
