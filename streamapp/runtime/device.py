"""Device selection: CUDA when present and asked for (or auto), CPU otherwise."""

from __future__ import annotations

from typing import Literal

DeviceChoice = Literal["auto", "cpu", "cuda"]


def cuda_available() -> bool:
    """True when torch sees a CUDA device (False when torch has no CUDA build)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return False
    return bool(torch.cuda.is_available())


def resolve_device(choice: DeviceChoice) -> str:
    """``cuda`` or ``cpu``; raises ``ModelLoadError`` if ``cuda`` is forced but absent."""
    from streamapp.runtime.base import ModelLoadError

    if choice == "cpu":
        return "cpu"
    has_cuda = cuda_available()
    if choice == "cuda" and not has_cuda:
        raise ModelLoadError("model.device=cuda but no CUDA device is available")
    return "cuda" if has_cuda else "cpu"
