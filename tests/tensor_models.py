"""A small multi-input, multi-output tensor model written as a registry version, for tests.

``pixels`` (a float32 4x4 tensor) and ``age`` (a numeric scalar, fed as the
``features`` matrix) → a dict of ``probs`` (3 classes, the prediction) and
``embedding`` (ignored). Weights are seeded; the version has both a TorchScript
and an ONNX artifact, reference rows (``reference.npz``) and a profile of the
monitored columns (``age`` and the sketch of ``pixels``).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import torch

from streamapp.inputs.batch import FeatureBatch
from streamapp.inputs.reference import TENSOR_REFERENCE_FILE, save_reference
from streamapp.inputs.sketch import Sketcher
from streamapp.registry.manifest import FeatureSpec, Manifest
from streamapp.registry.registry import ModelRegistry, set_pointer
from streamapp.registry.writer import artifact, staged_version, write_json
from streamapp.statistics.profile import build_profile

NAME = "tensor-clf"


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(17, 3)

    def forward(self, pixels: torch.Tensor, features: torch.Tensor) -> dict[str, torch.Tensor]:
        x = torch.cat([pixels.reshape(pixels.shape[0], -1), features / 100.0], 1)
        return {"probs": torch.softmax(self.linear(x), dim=1), "embedding": x}


def sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pixel tensors in [0, 1] and ages in [0, 120]."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 4, 4), dtype=np.float32), rng.integers(0, 121, n).astype(np.float32)


def features_json(pixels: np.ndarray, age: float, binary: bool = False) -> dict[str, Any]:
    """One event's ``features``: pixels as nested arrays, or base64 of little-endian bytes."""
    value: Any = (base64.b64encode(pixels.astype("<f4").tobytes()).decode() if binary
                  else pixels.tolist())
    return {"pixels": value, "age": float(age)}


def event(event_id: str, features: dict[str, Any]) -> bytes:
    return orjson.dumps({"event_id": event_id, "event_time": datetime.now(UTC).isoformat(),
                         "features": features})


def manifest(version: str = "1") -> Manifest:
    return Manifest(
        name=NAME, version=version, task="multiclass_classification",
        features=[FeatureSpec(name="pixels", type="tensor", dtype="float32", shape=[4, 4],
                              min=0.0, max=1.0),
                  FeatureSpec(name="age", type="numeric", min=0, max=120)],
        output={"name": "probs", "classes": [0, 1, 2]},
        artifacts=[{"format": "torchscript", "path": "model.pt", "sha256": "0" * 64}],
        created_at=datetime.now(UTC),
    )


def write_version(root: Path, version: str = "1", seed: int = 0) -> Path:
    """Write the version into the registry at ``root`` and point ``production`` at it."""
    torch.manual_seed(seed)
    net = Net().eval()
    pixels, age = sample(600, seed)
    batch = FeatureBatch(age.reshape(-1, 1), {"pixels": pixels})
    registry = ModelRegistry(root)
    with staged_version(registry, NAME, version) as staging:
        scripted = torch.jit.script(net)
        scripted.save(str(staging / "model.pt"))  # type: ignore[no-untyped-call]
        with torch.no_grad():
            torch.onnx.export(
                net, (torch.from_numpy(pixels[:2]), torch.from_numpy(age[:2].reshape(-1, 1))),
                str(staging / "model.onnx"), input_names=["pixels", "features"],
                output_names=["probs", "embedding"], dynamo=False,
                dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}, "probs": {0: "n"},
                              "embedding": {0: "n"}},
            )
            outputs = net(torch.from_numpy(pixels), torch.from_numpy(age.reshape(-1, 1)))
        made = manifest(version).model_copy(update={"artifacts": [
            artifact(staging, "torchscript", "model.pt"), artifact(staging, "onnx", "model.onnx"),
        ]})
        save_reference(staging / TENSOR_REFERENCE_FILE, made, batch, 256)
        write_json(staging, made, profile_of(made, batch, outputs["probs"].numpy()))
    set_pointer(registry.root / NAME / "production", version)
    return registry.root / NAME / version


def profile_of(made: Manifest, batch: FeatureBatch, outputs: np.ndarray) -> Any:
    """The profile of the monitored columns: the scalar features and the sketches."""
    sketches = Sketcher(made).columns(batch)
    specs = [*made.scalar_features,
             *(FeatureSpec(name=k, type="numeric") for k in sketches)]
    view = made.model_copy(update={"features": specs})
    matrix = np.column_stack([batch.matrix, *sketches.values()]).astype(np.float32)
    return build_profile(view, matrix, outputs.astype(np.float32))
