"""TorchScript scorer: inference_mode, pinned host buffers and non-blocking copies on CUDA.

Artifacts are TorchScript archives (``torch.jit.load``): code and tensors, no
pickled Python objects are executed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from streamapp.processing import ModelInputs
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
        try:
            arguments = self._module.forward.schema.arguments[1:]  # [0] is self
            self._arguments = [a.name for a in arguments]
        except AttributeError:  # not a scripted/traced module with a schema
            self._arguments = [manifest.input_name]

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

    def predict_inputs(self, inputs: ModelInputs) -> FloatMatrix:
        """The module's ``forward`` arguments by name; on CUDA each input goes through a
        pinned staging buffer with a non-blocking copy. Raises ``ValueError`` when an
        argument has no input or the output has the wrong shape."""
        missing = [a for a in self._arguments if a not in inputs]
        if missing or len(inputs) != len(self._arguments):
            raise ValueError(f"module forward takes {self._arguments}, got {sorted(inputs)}")
        rows = len(inputs[self._arguments[0]]) if self._arguments else 0
        with torch.inference_mode():
            args = [self._to_device(name, inputs[name]) for name in self._arguments]
            out = self._pick(self._module(*args))
            result = out.float().cpu().numpy()
        result = result.reshape(rows, -1) if result.ndim == 1 else result
        if result.shape != (rows, self._out_width):
            raise ValueError(
                f"model returned shape {result.shape}, expected ({rows}, {self._out_width})"
            )
        return np.asarray(result, dtype=np.float32)

    def _to_device(self, name: str, array: np.ndarray) -> torch.Tensor:
        host = torch.from_numpy(np.ascontiguousarray(array))
        if self._device.type != "cuda":
            return host
        staged = self._pinned_like(name, host)
        staged.copy_(host)
        return staged.to(self._device, non_blocking=True)

    def _pick(self, out: object) -> torch.Tensor:
        """The prediction among a module's outputs: a tensor, ``output.index`` of a tuple,
        or ``output.name`` of a dict. Raises ``ValueError`` otherwise."""
        spec = self.manifest.output
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, tuple | list) and spec.index is not None and spec.index < len(out):
            return out[spec.index]  # type: ignore[no-any-return]
        if isinstance(out, dict) and spec.name in out:
            return out[spec.name]  # type: ignore[no-any-return]
        raise ValueError(f"module returned {type(out).__name__}; set output.index (tuple) or "
                         f"output.name (dict) to pick the prediction")

    def _pinned_like(self, name: str, host: torch.Tensor) -> torch.Tensor:
        """A per-thread, per-input page-locked buffer of ``host``'s shape and dtype, grown
        along the first axis as needed and reused across batches."""
        bufs: dict[str, torch.Tensor] = self._local.__dict__.setdefault("named", {})
        buf = bufs.get(name)
        if (buf is None or buf.dtype != host.dtype or buf.shape[1:] != host.shape[1:]
                or buf.shape[0] < host.shape[0]):
            buf = torch.empty((max(host.shape[0], 64), *host.shape[1:]),
                              dtype=host.dtype).pin_memory()
            bufs[name] = buf
        return buf[: host.shape[0]]

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
