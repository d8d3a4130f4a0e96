"""TorchScript scorer: inference_mode, pinned host buffers and non-blocking copies on CUDA.

Artifacts are TorchScript archives (``torch.jit.load``): code and tensors, no
pickled Python objects are executed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from streamapp.registry.manifest import Manifest
from streamapp.runtime.base import FloatMatrix, ModelLoadError, ScoringModel
from streamapp.runtime.threads import size_torch_pool


class TorchModel(ScoringModel):
    """A TorchScript module on CPU or CUDA; torch releases the GIL inside its kernels."""

    runtime = "torch"

    def __init__(self, manifest: Manifest, path: Path, device: str, intra_threads: int = 1) -> None:
        super().__init__(manifest)
        self.device = device
        self._device = torch.device(device)
        try:
            module = torch.jit.load(str(path), map_location=self._device)  # type: ignore[no-untyped-call]
        except Exception as exc:  # torch raises RuntimeError / ValueError on bad archives
            raise ModelLoadError(
                f"{manifest.name}/{manifest.version}: bad TorchScript: {exc}"
            ) from exc
        self._module = module.eval()
        if device == "cpu":
            size_torch_pool(intra_threads)  # process-wide: applied once per process
        self._local = threading.local()
        self._width = manifest.model_input_width
        self._out_width = manifest.model_output_width

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        if features.ndim != 2 or features.shape[1] != self._width:
            raise ValueError(f"expected (n, {self._width}) features, got {features.shape}")
        with torch.inference_mode():
            host = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
            if self._device.type == "cuda":
                staged = self._pinned(len(features))
                staged.copy_(host)
                host = staged
                out = self._module(host.to(self._device, non_blocking=True))
                # .cpu() is the one synchronisation point: the result must be on the host.
                result = out.float().cpu().numpy()
            else:
                result = self._module(host).float().numpy()
        if result.ndim != 2 or result.shape[1] != self._out_width:
            raise ValueError(
                f"model returned shape {result.shape}, expected (n, {self._out_width})"
            )
        return np.asarray(result, dtype=np.float32)

    def _pinned(self, rows: int) -> torch.Tensor:
        """A per-thread page-locked staging buffer, grown as needed and reused across batches."""
        buf: torch.Tensor | None = getattr(self._local, "buf", None)
        if buf is None or buf.shape[0] < rows:
            buf = torch.empty((max(rows, 64), self._width), dtype=torch.float32).pin_memory()
            self._local.buf = buf
        return buf[:rows]

    def close(self) -> None:
        if self._device.type == "cuda":
            del self._module
            torch.cuda.empty_cache()
