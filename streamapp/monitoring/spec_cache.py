"""Model specs by (name, version), loaded from the model registry once: both planes read them."""

from __future__ import annotations

import logging

from streamapp.metrics.monitoring import AggregateMetrics
from streamapp.registry.manifest import ReferenceProfile
from streamapp.registry.registry import ModelRegistry, RegistryError
from streamapp.statistics.spec import ModelSpec

log = logging.getLogger(__name__)


class SpecCache:
    """Model specs by (name, version), loaded from the registry once (None when unknown).

    A version whose manifest or profile cannot be loaded is logged at ERROR and, with
    ``metrics``, exported as ``streamapp_reference_profile_loaded`` 0: never skipped
    silently.
    """

    def __init__(self, registry: ModelRegistry, metrics: AggregateMetrics | None = None) -> None:
        self.registry = registry
        self.metrics = metrics
        self._specs: dict[tuple[str, str], ModelSpec | None] = {}

    def get(self, model: str, version: str) -> ModelSpec | None:
        key = (model, version)
        if key not in self._specs:
            problem: Exception | None = None
            try:
                mv = self.registry.get(model, version)
                self._specs[key] = ModelSpec(mv.manifest, ReferenceProfile.load(mv.path))
            except (RegistryError, OSError, ValueError, KeyError) as exc:
                self._specs[key], problem = None, exc
                log.error(
                    "monitor: %s/%s has no usable manifest or reference profile, so it gets "
                    "no windows, drift or retrain policy: %s", model, version, str(exc)[:300],
                    extra={"model": model, "version": version},
                )
            if self.metrics is not None:
                self.metrics.profile_loaded.labels(model, version).set(0.0 if problem else 1.0)
        return self._specs[key]
