"""Registry versions made for fault scenarios: slow, broken, pickled (real artifacts on disk).

Each helper copies ``agrawal-clf/1`` to a new version directory and rewrites its
manifest (checksums recomputed unless the scenario is a checksum mismatch).
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

from streamapp.registry.registry import set_pointer, sha256_file

NAME = "agrawal-clf"


def copy_version(registry: Path, dst: str, src: str = "1") -> Path:
    target = registry / NAME / dst
    shutil.copytree(registry / NAME / src, target)
    _edit(target, lambda m: m.update(version=dst))
    return target


def _edit(version_dir: Path, change: Any) -> None:
    path = version_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def only_artifact(version_dir: Path, fmt: str, recompute: bool = True) -> None:
    """Keep only the ``fmt`` artifact; recompute its checksum unless told not to."""

    def change(manifest: dict[str, Any]) -> None:
        manifest["artifacts"] = [a for a in manifest["artifacts"] if a["format"] == fmt]
        if recompute:
            art = manifest["artifacts"][0]
            art["sha256"] = sha256_file(version_dir / art["path"])

    _edit(version_dir, change)


def make_slow_torch(registry: Path, version: str, matmuls: int = 24) -> Path:
    """A TorchScript version that burns ~``matmuls`` 256x256 matmuls per batch (same outputs)."""
    import torch

    target = copy_version(registry, version)
    inner = torch.jit.load(str(target / "model.pt"))  # type: ignore[no-untyped-call]

    class Slow(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module, k: int) -> None:
            super().__init__()
            self.inner = inner
            self.k = k
            self.register_buffer("m", torch.eye(256))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            acc = self.m
            for _ in range(self.k):
                acc = acc @ self.m
            return self.inner(x) + 0.0 * acc[0, 0]

    torch.jit.script(Slow(inner, matmuls)).save(str(target / "model.pt"))  # type: ignore[no-untyped-call]
    only_artifact(target, "torchscript")
    return target


def make_pickled_pt(registry: Path, version: str) -> tuple[Path, Path]:
    """A ``model.pt`` that is a plain pickle (not TorchScript) whose load would create a file."""
    target = copy_version(registry, version)
    marker = target / "UNPICKLED"
    payload = pickle.dumps(_Trap(str(marker)))
    (target / "model.pt").write_bytes(payload)
    only_artifact(target, "torchscript")
    return target, marker


class _Trap:
    """Unpickling this calls ``open(path, 'w')``: the marker file proves an unpickle happened."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def tamper(version_dir: Path, fmt: str = "onnx") -> None:
    """Flip one byte of the artifact without updating the manifest checksum."""
    only_artifact(version_dir, fmt, recompute=False)
    manifest = json.loads((version_dir / "manifest.json").read_text())
    path = version_dir / manifest["artifacts"][0]["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def garbage_onnx(version_dir: Path) -> None:
    """Replace the ONNX artifact with garbage and a matching checksum (fails at load)."""
    (version_dir / "model.onnx").write_bytes(b"\x08\x01garbage, not a protobuf model")
    only_artifact(version_dir, "onnx")


def promote(registry: Path, version: str, pointer: str = "production") -> None:
    set_pointer(registry / NAME / pointer, version)


def make_wrong_shape_torch(registry: Path, version: str) -> Path:
    """A TorchScript version whose network expects 8 inputs while the manifest declares 9."""
    import torch

    target = copy_version(registry, version)
    net = torch.nn.Sequential(torch.nn.Linear(8, 2), torch.nn.Softmax(dim=1))
    torch.jit.script(net).save(str(target / "model.pt"))  # type: ignore[no-untyped-call]
    only_artifact(target, "torchscript")
    return target


POISON_NAN = 4242.0
POISON_RAISE = 4243.0


def make_poisoned_torch(registry: Path, version: str) -> Path:
    """A TorchScript version that returns NaN for rows whose first feature is ``POISON_NAN``
    and raises for batches holding a row whose first feature is ``POISON_RAISE``."""
    import torch

    target = copy_version(registry, version)
    inner = torch.jit.load(str(target / "model.pt"))  # type: ignore[no-untyped-call]

    class Poisoned(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if bool((x[:, 0] == 4243.0).any()):
                raise RuntimeError("poisoned row")
            out = self.inner(x)
            nan = (x[:, 0] == 4242.0).unsqueeze(1).expand_as(out)
            return torch.where(nan, torch.full_like(out, float("nan")), out)

    torch.jit.script(Poisoned(inner)).save(str(target / "model.pt"))  # type: ignore[no-untyped-call]
    only_artifact(target, "torchscript")
    return target
