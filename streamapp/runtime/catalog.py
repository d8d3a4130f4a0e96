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

from streamapp.plugins import load_object
from streamapp.settings.model import (
    BUILTIN_RUNTIME_SPECS,
    NAME_PATTERN,
    ModelSettings,
    RuntimeSpec,
    add_runtime,
)

__all__ = [
    "BUILTIN_RUNTIMES",
    "DEFAULT_RUNTIMES",
    "NAME_PATTERN",
    "RuntimeCatalog",
    "RuntimeEntry",
    "runtime_catalog",
]


class RuntimeEntry(RuntimeSpec):
    """A runtime as configured (:class:`~streamapp.settings.model.RuntimeSpec`) that can
    import its implementation."""

    def load(self) -> type:
        """Import the implementation; raises ``PluginError`` or ``TypeError`` with the fix."""
        from streamapp.runtime.base import ScoringModel

        obj = load_object(self.implementation, f"runtime {self.name!r}")
        if not (isinstance(obj, type) and issubclass(obj, ScoringModel)):
            raise TypeError(
                f"runtime {self.name!r}: {self.implementation} is not a ScoringModel subclass"
            )
        return obj

    @classmethod
    def of(cls, spec: RuntimeSpec) -> RuntimeEntry:
        """``spec`` as a loadable entry (itself when it already is one)."""
        return spec if isinstance(spec, RuntimeEntry) else cls(**spec.model_dump())


BUILTIN_RUNTIMES = tuple(RuntimeEntry.of(spec) for spec in BUILTIN_RUNTIME_SPECS)


class RuntimeCatalog:
    """Runtimes in preference order (``auto`` picks the first with a matching artifact)."""

    def __init__(self, entries: Iterable[RuntimeSpec] = ()) -> None:
        self._entries: dict[str, RuntimeEntry] = {}
        for entry in (*BUILTIN_RUNTIMES, *entries):
            self.register(entry)

    def register(self, entry: RuntimeSpec) -> None:
        """Add a runtime (a configured one may replace a built-in of the same name)."""
        add_runtime(self._entries, RuntimeEntry.of(entry))

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


DEFAULT_RUNTIMES = RuntimeCatalog()


def runtime_catalog(model: ModelSettings) -> RuntimeCatalog:
    """The built-in runtimes plus ``model.runtimes``, in preference order."""
    return RuntimeCatalog(model.runtimes)
