from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from streamapp.registry.manifest import FeatureSpec, Manifest, ReferenceProfile
from streamapp.registry.registry import ModelRegistry, RegistryError, set_pointer
from streamapp.runtime.base import ModelLoadError
from streamapp.runtime.loader import load_model, reference_rows
from tests.conftest import MODELS


def test_committed_demo_models_are_valid() -> None:
    reg = ModelRegistry(MODELS)
    assert reg.models() == ["agrawal-clf", "friedman-reg"]
    for name in reg.models():
        mv = reg.resolve(name)
        assert mv.version == "1"
        profile = ReferenceProfile.load(mv.path)
        assert profile.model_name == name
        for runtime in ("onnx", "torch"):
            model = load_model(mv, runtime, "cpu")
            out = model.predict(reference_rows(mv)[:8])
            assert out.shape == (8, mv.manifest.output.width)


def test_onnx_and_torchscript_agree() -> None:
    mv = ModelRegistry(MODELS).resolve("agrawal-clf")
    rows = reference_rows(mv)
    a = load_model(mv, "onnx", "cpu").predict(rows)
    b = load_model(mv, "torch", "cpu").predict(rows)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_promotion_is_atomic_and_validated(model_registry_dir: Path) -> None:
    reg = ModelRegistry(model_registry_dir)
    with pytest.raises(RegistryError, match="no version '9'"):
        reg.promote("agrawal-clf", "9")
    assert reg.pointer("agrawal-clf") == "1"
    # Readers racing a writer only ever see a complete version string.
    seen: set[str | None] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(reg.pointer("agrawal-clf", "candidate"))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(300):
        set_pointer(model_registry_dir / "agrawal-clf" / "candidate", "1" if i % 2 else "22")
    stop.set()
    t.join()
    assert seen <= {None, "1", "22"}
    reg.promote("agrawal-clf", "1", "candidate")
    assert reg.pointer("agrawal-clf", "candidate") == "1"
    reg.clear("agrawal-clf", "candidate")
    assert reg.pointer("agrawal-clf", "candidate") is None
    assert reg.next_version("agrawal-clf") == "2"


def test_tampered_artifact_is_rejected(model_registry_dir: Path) -> None:
    reg = ModelRegistry(model_registry_dir)
    mv = reg.resolve("agrawal-clf")
    with (mv.path / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        load_model(mv, "onnx", "cpu")
    # The TorchScript artifact is untouched and still loads.
    assert load_model(mv, "torch", "cpu").version == "1"


def test_manifest_with_wrong_feature_count_fails_validation(model_registry_dir: Path) -> None:
    version_dir = model_registry_dir / "agrawal-clf" / "1"
    data = json.loads((version_dir / "manifest.json").read_text())
    data["features"] = data["features"][:-1]
    (version_dir / "manifest.json").write_text(json.dumps(data))
    mv = ModelRegistry(model_registry_dir).get("agrawal-clf", "1")
    with pytest.raises(ModelLoadError):
        load_model(mv, "onnx", "cpu")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"task": "binary_classification", "output": {"classes": [0, 1, 2]}}, "two classes"),
        ({"task": "regression", "output": {"classes": [0, 1]}}, "no output.classes"),
        ({"version": "../etc"}, "version"),
    ],
)
def test_manifest_rules(patch: dict[str, object], message: str) -> None:
    data = json.loads((MODELS / "agrawal-clf" / "1" / "manifest.json").read_text())
    data.update(patch)
    with pytest.raises(ValidationError, match=message):
        Manifest.model_validate(data)


def test_feature_spec_rules() -> None:
    with pytest.raises(ValidationError, match="needs categories"):
        FeatureSpec(name="c", type="categorical")
    with pytest.raises(ValidationError, match="min > max"):
        FeatureSpec(name="x", type="numeric", min=2, max=1)
