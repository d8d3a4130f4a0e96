"""The one place that maps a runtime name to its implementation.

A runtime is a :class:`~streamapp.runtime.base.ScoringModel` subclass named by
import path, plus the artifact format it loads (``Artifact.format`` in a
manifest). ONNX Runtime and TorchScript register through the same route as a
third-party runtime configured in ``model.runtimes``; the implementation is
imported only when a version with that format is loaded, so an ONNX-only
worker never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streamapp.plugins import load_object, valid_import_path

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class RuntimeEntry(BaseModel):
    """A runtime: its name (``model.runtime``), artifact format and implementation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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

    def load(self) -> type:
        """Import the implementation; raises ``PluginError`` or ``TypeError`` with the fix."""
        from streamapp.runtime.base import ScoringModel

        obj = load_object(self.implementation, f"runtime {self.name!r}")
        if not (isinstance(obj, type) and issubclass(obj, ScoringModel)):
            raise TypeError(
                f"runtime {self.name!r}: {self.implementation} is not a ScoringModel subclass"
            )
        return obj


BUILTIN_RUNTIMES = (
    RuntimeEntry(name="onnx", format="onnx", implementation="streamapp.runtime.onnx:OnnxModel"),
    RuntimeEntry(
        name="torch", format="torchscript", implementation="streamapp.runtime.torch:TorchModel"
    ),
)


class RuntimeRegistry:
    """Runtimes in preference order (``auto`` picks the first with a matching artifact)."""

    def __init__(self, entries: Iterable[RuntimeEntry] = ()) -> None:
        self._entries: dict[str, RuntimeEntry] = {}
        for entry in (*BUILTIN_RUNTIMES, *entries):
            self.register(entry)

    def register(self, entry: RuntimeEntry) -> None:
        """Add a runtime (a configured one may replace a built-in of the same name)."""
        others = (e for e in self._entries.values() if e.name != entry.name)
        clash = next((e for e in others if e.format == entry.format), None)
        if clash is not None:
            raise ValueError(
                f"runtimes {clash.name!r} and {entry.name!r} both load format {entry.format!r}"
            )
        self._entries[entry.name] = entry

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    @property
    def entries(self) -> list[RuntimeEntry]:
        return list(self._entries.values())

    def get(self, name: str) -> RuntimeEntry:
        """The runtime called ``name``; raises ``KeyError`` listing the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(
                f"unknown runtime {name!r}; known: {', '.join(self._entries)} "
                "(add one under model.runtimes)"
            ) from None

    def for_format(self, fmt: str) -> RuntimeEntry | None:
        """The runtime that loads artifact format ``fmt``, if any."""
        return next((e for e in self._entries.values() if e.format == fmt), None)


DEFAULT_RUNTIMES = RuntimeRegistry()
