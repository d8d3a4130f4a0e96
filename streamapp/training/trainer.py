"""Seeded training of a :class:`TabularMLP` and export of a complete registry version.

``export_version`` writes everything a version needs — ONNX and TorchScript
artifacts, ``reference.npy`` rows, ``profile.json`` and a ``manifest.json`` with
checksums — into a temp directory and renames it into place, so a half-written
version is never visible to the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import torch

from streamapp.registry.manifest import FeatureSpec, Manifest, OutputSpec, Task
from streamapp.registry.registry import ModelRegistry, ModelVersion
from streamapp.registry.writer import artifact, staged_version, write_json, write_reference
from streamapp.statistics.calibration import with_calibration
from streamapp.statistics.heldout import evaluate as evaluate
from streamapp.statistics.profile import build_profile, profile_rows
from streamapp.training.nets import TabularMLP

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainSpec:
    """What to train: task, features and classes, plus optimisation settings."""

    name: str
    task: Task
    features: list[FeatureSpec]
    classes: list[int | str] | None = None
    hidden: tuple[int, ...] = (64, 32)
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 3e-3
    seed: int = 0


def train(
    spec: TrainSpec,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32] | npt.NDArray[np.int64],
    progress: ProgressFn | None = None,
) -> TabularMLP:
    """Train deterministically (fixed seed, one thread, deterministic kernels)."""
    torch.manual_seed(spec.seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        classification = spec.task.is_classification
        n_out = len(spec.classes or []) if classification else 1
        net = TabularMLP(xt.mean(0), xt.std(0), n_out, classification, spec.hidden)
        if classification:
            yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
            loss_fn: torch.nn.Module = torch.nn.CrossEntropyLoss()
        else:
            yt = torch.from_numpy(np.asarray(y, dtype=np.float32)).reshape(-1, 1)
            loss_fn = torch.nn.MSELoss()
            y_mean, y_std = yt.mean(), yt.std().clamp_min(1e-6)
        optimiser = torch.optim.Adam(net.parameters(), lr=spec.learning_rate)
        generator = torch.Generator().manual_seed(spec.seed)
        for epoch in range(spec.epochs):
            order = torch.randperm(len(xt), generator=generator)
            for start in range(0, len(xt), spec.batch_size):
                idx = order[start : start + spec.batch_size]
                optimiser.zero_grad()
                logits = net.logits(xt[idx])
                if classification:
                    loss = loss_fn(logits, yt[idx])
                else:
                    # Train on a standardised target, then fold the scale into the last layer.
                    loss = loss_fn(logits, (yt[idx] - y_mean) / y_std)
                loss.backward()
                optimiser.step()
            if progress is not None:
                progress(epoch + 1, spec.epochs)
        if not classification:
            last = net.body[-1]
            assert isinstance(last, torch.nn.Linear)
            with torch.no_grad():
                last.weight.mul_(y_std)
                last.bias.mul_(y_std).add_(y_mean)
        return net.eval()
    finally:
        torch.set_num_threads(previous_threads)


def predict(net: TabularMLP, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    with torch.inference_mode():
        out = net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        return np.asarray(out.numpy(), dtype=np.float32)


def export_version(
    registry: ModelRegistry,
    spec: TrainSpec,
    version: str,
    net: TabularMLP,
    x_train: npt.NDArray[np.float32],
    baseline_metrics: dict[str, float],
    training_info: dict[str, str | int | float],
    trainer: str | None = None,
    x_holdout: npt.NDArray[np.float32] | None = None,
) -> ModelVersion:
    """Write a complete, checksummed version directory atomically and return it.

    The reference profile (the drift baseline and its calibration) is built from
    ``x_holdout``, rows the net was not fitted on, when given: a net's outputs on its own
    training rows are more confident than on live data (see docs/models.md).
    """
    with staged_version(registry, spec.name, version) as staging:
        n_features = len(spec.features)
        example = torch.zeros((2, n_features), dtype=torch.float32)
        torch.onnx.export(
            net,
            (example,),
            str(staging / "model.onnx"),
            input_names=["features"],
            output_names=["output"],
            dynamic_axes={"features": {0: "batch"}, "output": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        traced = torch.jit.trace(net, example)  # type: ignore[no-untyped-call]
        torch.jit.save(traced, str(staging / "model.pt"))
        write_reference(staging, x_train)
        manifest = Manifest(
            name=spec.name,
            version=version,
            task=spec.task,
            features=spec.features,
            output=OutputSpec(name="output", classes=spec.classes),
            artifacts=[
                artifact(staging, "onnx", "model.onnx"),
                artifact(staging, "torchscript", "model.pt"),
            ],
            created_at=datetime.now(UTC),
            baseline_metrics=baseline_metrics,
            training=training_info,
            trainer=trainer,
        )
        x_profile = np.asarray(profile_rows(x_train, x_holdout, spec.name), np.float32)
        profile = with_calibration(build_profile(manifest, x_profile, predict(net, x_profile)))
        write_json(staging, manifest, profile)
    return registry.get(spec.name, version)
