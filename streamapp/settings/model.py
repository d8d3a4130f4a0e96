"""Which model serves, from which registry, on which runtime (``STREAMAPP_MODEL__*``).

Runtimes are named here as data (name, artifact format, import path); the runtime
package (:mod:`streamapp.runtime.catalog`) turns them into loadable entries, so
loading settings imports no runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from streamapp.plugins import valid_import_path
from streamapp.settings.base import Section

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class RuntimeSpec(Section):
    """A runtime: its name (``model.runtime``), artifact format and implementation."""

    name: str = Field(pattern=NAME_PATTERN)
    """Name used by ``model.runtime`` and the CLI (e.g. ``onnx``)."""
    format: str = Field(pattern=NAME_PATTERN)
    """The ``Artifact.format`` this runtime loads (e.g. ``torchscript``)."""
    implementation: str
    """Import path of a ``ScoringModel`` subclass; built as ``cls(manifest, path, device, n)``."""

    @field_validator("implementation")
    @classmethod
    def _path(cls, value: str) -> str:
        return valid_import_path(value)


BUILTIN_RUNTIME_SPECS = (
    RuntimeSpec(name="onnx", format="onnx", implementation="streamapp.runtime.onnx:OnnxModel"),
    RuntimeSpec(
        name="torch", format="torchscript", implementation="streamapp.runtime.torch:TorchModel"
    ),
)
"""The built-in runtimes in preference order; configured ones come after them."""

R = TypeVar("R", bound=RuntimeSpec)


def add_runtime(table: dict[str, R], entry: R) -> None:
    """Add ``entry`` by name (replacing one of the same name); raises ``ValueError`` when
    another runtime already loads its format.

    >>> table = {s.name: s for s in BUILTIN_RUNTIME_SPECS}
    >>> add_runtime(table, RuntimeSpec(name="ort2", format="onnx", implementation="a.b:C"))
    Traceback (most recent call last):
    ValueError: runtimes 'onnx' and 'ort2' both load format 'onnx'
    """
    others = (e for e in table.values() if e.name != entry.name)
    clash = next((e for e in others if e.format == entry.format), None)
    if clash is not None:
        raise ValueError(
            f"runtimes {clash.name!r} and {entry.name!r} both load format {entry.format!r}"
        )
    table[entry.name] = entry


class ModelSettings(Section):
    """Which model serves, from which registry, on which runtime and device."""

    registry: Path = Path("models")
    """Registry root: ``<registry>/<name>/<version>/`` plus pointer files."""
    name: str = "agrawal-clf"
    """Model to serve."""
    pointer: str = "production"
    """Pointer file naming the serving version."""
    candidate_pointer: str = "candidate"
    """Pointer file naming the canary/shadow candidate version."""
    runtime: str = "auto"
    """Artifact runtime by name; auto takes the first of onnx, torch, then ``runtimes``."""
    runtimes: list[RuntimeSpec] = Field(default_factory=list)
    """Extra runtimes (name, artifact format, implementation import path)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Inference device; auto picks CUDA when available."""
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    """Inference precision of the torch runtime (fp16: CUDA; bf16: CUDA or CPU). A version is
    loaded only when its reduced-precision outputs on the reference rows stay within
    ``precision_tolerance`` of fp32; otherwise the serving version keeps serving."""
    precision_tolerance: float = Field(default=0.02, gt=0)
    """Largest absolute difference from fp32 on the reference rows (probabilities or values)."""
    gpu_memory_fraction: float | None = Field(default=None, gt=0, le=1)
    """Cap on this process's share of the CUDA device's memory (None: torch's default)."""

    @model_validator(mode="after")
    def _known_runtime(self) -> ModelSettings:
        table: dict[str, RuntimeSpec] = {}
        for entry in (*BUILTIN_RUNTIME_SPECS, *self.runtimes):
            add_runtime(table, entry)  # raises when two runtimes claim one format
        if self.runtime != "auto" and self.runtime not in table:
            raise ValueError(
                f"model.runtime {self.runtime!r} is not one of auto, {', '.join(table)} "
                "(register more under model.runtimes)"
            )
        return self
