"""Device selection: CUDA when present and asked for (or auto), CPU otherwise."""

from __future__ import annotations

from typing import Literal

DeviceChoice = Literal["auto", "cpu", "cuda"]


def cuda_available() -> bool:
    """True when torch sees a CUDA device (False when torch has no CUDA build).

    Without an NVIDIA driver on the machine the answer is False without
    importing torch (~200 MB RSS an ONNX-only CPU worker does not need).
    """
    if not _nvidia_driver_present():
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return False
    return bool(torch.cuda.is_available())


def _nvidia_driver_present() -> bool:
    """Cheap check for a loaded NVIDIA kernel driver or its user-space library."""
    import ctypes.util
    import os

    return os.path.exists("/proc/driver/nvidia/version") or bool(
        ctypes.util.find_library("cuda")
    )


def resolve_device(choice: DeviceChoice) -> str:
    """``cuda`` or ``cpu``; raises ``ModelLoadError`` if ``cuda`` is forced but absent."""
    from streamapp.runtime.base import ModelLoadError

    if choice == "cpu":
        return "cpu"
    has_cuda = cuda_available()
    if choice == "cuda" and not has_cuda:
        raise ModelLoadError("model.device=cuda but no CUDA device is available")
    return "cuda" if has_cuda else "cpu"
