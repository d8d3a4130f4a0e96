"""ONNX Runtime scorer: CUDA execution provider when on GPU, CPU provider otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from streamapp.processing import ModelInputs
from streamapp.registry.manifest import Manifest
from streamapp.runtime.base import FloatMatrix, ModelLoadError, ScoringModel
from streamapp.runtime.onnx_checks import check_signature


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
        check_signature(manifest, self._session.get_inputs(), self._session.get_outputs())
        self._input = manifest.input_name
        self._output = [manifest.output.name]

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        (out,) = self._session.run(self._output, {self._input: features})
        return np.asarray(out, dtype=np.float32).reshape(len(features), -1)

    def predict_inputs(self, inputs: ModelInputs) -> FloatMatrix:
        """Every named input in one ``run``; only the prediction output is computed."""
        (out,) = self._session.run(self._output, inputs)
        rows = len(next(iter(inputs.values()))) if inputs else 0
        return np.asarray(out, dtype=np.float32).reshape(rows, -1)
