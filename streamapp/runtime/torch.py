"""TorchScript scorer: inference_mode; on CUDA a pipeline of pinned buffers and streams.

Artifacts are TorchScript archives (``torch.jit.load``): code and tensors, no
pickled Python objects are executed.

On CUDA every scorer thread has its own CUDA stream and its own page-locked
(pinned) staging buffers: a batch's inputs are cast on the host (to fp16/bf16
when asked, halving the bytes moved), copied into the pinned buffers, sent with
non-blocking copies and computed on the thread's stream, and the result's copy
back is the one synchronisation point. With ``scoring.scorer_threads`` 2, two
batches are in flight: one's host-to-device copy overlaps the other's compute.
On CPU the same code path runs without the copies.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from streamapp.processing import ModelInputs
from streamapp.registry.manifest import Manifest
from streamapp.runtime.base import FloatMatrix, ModelLoadError, ScoringModel
from streamapp.runtime.threads import size_torch_pool

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_NUMPY_HALF = {"fp16": np.float16}
"""Precisions numpy can cast to on the host (bf16 is cast on the device)."""


class TorchModel(ScoringModel):
    """A TorchScript module on CPU or CUDA; torch releases the GIL inside its kernels."""

    runtime = "torch"

    def __init__(
        self, manifest: Manifest, path: Path, device: str, intra_threads: int = 1,
        precision: Literal["fp32", "fp16", "bf16"] = "fp32",
    ) -> None:
        super().__init__(manifest)
        self.device = device
        self.precision = precision
        self._device = torch.device(device)
        self._dtype = DTYPES[precision]
        if precision == "fp16" and device != "cuda":
            raise ModelLoadError(f"{manifest.name}/{manifest.version}: fp16 needs CUDA "
                                 "(on CPU use bf16)")
        try:
            module = torch.jit.load(str(path), map_location=self._device)  # type: ignore[no-untyped-call]
        except Exception as exc:  # torch raises RuntimeError / ValueError on bad archives
            raise ModelLoadError(
                f"{manifest.name}/{manifest.version}: bad TorchScript: {exc}"
            ) from exc
        self._module = module.eval().to(self._dtype) if precision != "fp32" else module.eval()
        if device == "cpu":
            size_torch_pool(intra_threads)  # process-wide: applied once per process
        self._local = threading.local()
        self._width = manifest.model_input_width
        self._out_width = manifest.model_output_width
        post = manifest.processing.post if manifest.processing is not None else None
        self._probabilities = manifest.task.is_classification and post is None
        """The artifact itself returns class probabilities (no post processor after it)."""
        try:
            arguments = self._module.forward.schema.arguments[1:]  # [0] is self
            self._arguments = [a.name for a in arguments]
        except AttributeError:  # not a scripted/traced module with a schema
            self._arguments = [manifest.input_name]

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        if features.ndim != 2 or features.shape[1] != self._width:
            raise ValueError(f"expected (n, {self._width}) features, got {features.shape}")
        return self._run([self.manifest.input_name], {self.manifest.input_name: features},
                         len(features), lambda out: out)

    def predict_inputs(self, inputs: ModelInputs) -> FloatMatrix:
        """The module's ``forward`` arguments by name. Raises ``ValueError`` when an argument
        has no input or the output has the wrong shape."""
        missing = [a for a in self._arguments if a not in inputs]
        if missing or len(inputs) != len(self._arguments):
            raise ValueError(f"module forward takes {self._arguments}, got {sorted(inputs)}")
        rows = len(inputs[self._arguments[0]]) if self._arguments else 0
        return self._run(self._arguments, inputs, rows, self._pick)

    def _run(self, names: list[str], inputs: ModelInputs, rows: int, pick: Any) -> FloatMatrix:
        with torch.inference_mode():
            if self._device.type == "cuda":
                with torch.cuda.stream(self._stream()):
                    args = [self._to_device(n, inputs[n]) for n in names]
                    # .cpu() is the one synchronisation point (with this thread's stream)
                    result = pick(self._module(*args)).float().cpu().numpy()
            else:
                args = [self._host(inputs[n]) for n in names]
                result = pick(self._module(*args)).float().numpy()
        result = result.reshape(rows, -1) if result.ndim == 1 else result
        if result.shape != (rows, self._out_width):
            raise ValueError(
                f"model returned shape {result.shape}, expected ({rows}, {self._out_width})"
            )
        if self.precision != "fp32" and self._probabilities:
            # probabilities rounded to 8 bits of mantissa: rows sum to 1 ± 1e-2; renormalise
            result = result / result.sum(axis=1, keepdims=True)
        return np.asarray(result, dtype=np.float32)

    def _host(self, array: np.ndarray) -> torch.Tensor:
        """A host tensor of ``array``, floating values in the serving precision."""
        if array.dtype.kind == "f":
            cast = _NUMPY_HALF.get(self.precision, np.float32)
            tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=cast))
            return tensor if tensor.dtype == self._dtype else tensor.to(self._dtype)
        return torch.from_numpy(np.ascontiguousarray(array))

    def _to_device(self, name: str, array: np.ndarray) -> torch.Tensor:
        """Through this thread's pinned buffer, a non-blocking copy on its stream."""
        host = self._host(array)
        staged = self._pinned_like(name, host)
        staged.copy_(host)
        return staged.to(self._device, non_blocking=True)

    def _stream(self) -> torch.cuda.Stream:
        """This scorer thread's CUDA stream (created on first use)."""
        stream: torch.cuda.Stream | None = getattr(self._local, "stream", None)
        if stream is None:
            stream = torch.cuda.Stream(device=self._device)  # type: ignore[no-untyped-call]
            self._local.stream = stream
        return stream

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
        along the first axis as needed and reused across batches (the previous batch's
        copy has completed: its result was synchronised before this call)."""
        bufs: dict[str, torch.Tensor] = self._local.__dict__.setdefault("pinned", {})
        buf = bufs.get(name)
        if (buf is None or buf.dtype != host.dtype or buf.shape[1:] != host.shape[1:]
                or buf.shape[0] < host.shape[0]):
            buf = torch.empty((max(host.shape[0], 64), *host.shape[1:]),
                              dtype=host.dtype).pin_memory()
            bufs[name] = buf
        return buf[: host.shape[0]]

    def close(self) -> None:
        if self._device.type == "cuda":
            del self._module
            torch.cuda.empty_cache()
