"""ONNX Runtime scorer: CUDA execution provider when on GPU, CPU provider otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from streamapp.registry.manifest import Manifest
from streamapp.runtime.base import FloatMatrix, ModelLoadError, ScoringModel


class OnnxModel(ScoringModel):
    """An ONNX artifact in an InferenceSession (thread-safe; run() releases the GIL)."""

    runtime = "onnx"

    def __init__(self, manifest: Manifest, path: Path, device: str, intra_threads: int = 1) -> None:
        super().__init__(manifest)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers: list[str] = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelLoadError("device is cuda but onnxruntime has no CUDAExecutionProvider")
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"{manifest.name}/{manifest.version}: bad ONNX: {exc}") from exc
        self.device = device
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != manifest.input_name:
            raise ModelLoadError(
                f"{manifest.name}/{manifest.version}: expected one input "
                f"{manifest.input_name!r}, artifact has {[i.name for i in inputs]}"
            )
        _check_dim(manifest, "input", inputs[0].shape, len(manifest.features))
        outputs = [o for o in self._session.get_outputs() if o.name == manifest.output.name]
        if not outputs:
            raise ModelLoadError(
                f"{manifest.name}/{manifest.version}: no output {manifest.output.name!r}"
            )
        _check_dim(manifest, "output", outputs[0].shape, manifest.output.width)
        self._input = manifest.input_name
        self._output = [manifest.output.name]

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        (out,) = self._session.run(self._output, {self._input: features})
        return np.asarray(out, dtype=np.float32).reshape(len(features), -1)


def _check_dim(manifest: Manifest, what: str, shape: list[object], expected: int) -> None:
    """The artifact's last dimension must equal the manifest's (symbolic dims are accepted)."""
    if len(shape) != 2:
        raise ModelLoadError(
            f"{manifest.name}/{manifest.version}: {what} must be 2-D, artifact has {shape}"
        )
    last = shape[-1]
    if isinstance(last, int) and last != expected:
        raise ModelLoadError(
            f"{manifest.name}/{manifest.version}: {what} width {last} != manifest {expected}"
        )
