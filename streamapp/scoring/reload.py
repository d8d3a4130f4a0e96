"""Hot reload: watch the registry pointers and swap validated versions in between batches.

A background thread polls the ``production`` and ``candidate`` pointers every
``reload_poll_ms``. A changed pointer is loaded and validated by the model
factory (``load_model``: checksum, shapes, test inference) in that thread; the
new :class:`Slots` replace the old ones in one attribute assignment, which the
worker reads once per batch. A broken artifact is logged, counted in
``streamapp_model_rejects_total``, and the old version keeps serving; the same
pointer state is not retried until the pointer changes again. A swapped-out
model is handed to :class:`~streamapp.scoring.leases.ModelLeases`, which closes
it once the last batch scored with it has finished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from streamapp.metrics.common import ModelMetrics
from streamapp.registry.registry import ModelRegistry, ModelVersion, RegistryError
from streamapp.runtime.base import ModelLoadError, ScoringModel
from streamapp.scoring.decode import Decoder, PayloadFormat
from streamapp.scoring.leases import ModelLeases

log = logging.getLogger(__name__)

ModelFactory = Callable[[ModelVersion], ScoringModel]


@dataclass(frozen=True)
class Slots:
    """The serving models: primary (with its decoder) and the optional candidate."""

    primary: ScoringModel
    decoder: Decoder
    candidate: ScoringModel | None = None


class ModelWatcher:
    """Owns the current :class:`Slots`; ``start()`` begins polling in a daemon thread."""

    def __init__(
        self,
        registry: ModelRegistry,
        name: str,
        factory: ModelFactory,
        metrics: ModelMetrics,
        max_event_bytes: int,
        pointer: str = "production",
        candidate_pointer: str | None = "candidate",
        poll_s: float = 0.5,
        payload: PayloadFormat | None = None,
    ) -> None:
        self.registry = registry
        self.name = name
        self.factory = factory
        self.metrics = metrics
        self.max_event_bytes = max_event_bytes
        self.pointer = pointer
        self.candidate_pointer = candidate_pointer
        self.poll_s = poll_s
        self.payload = payload
        """The events topic's wire format for every decoder (None: the JSON envelope)."""
        self._seen: dict[str, tuple[str | None, int | None]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.leases = ModelLeases()
        """Running batches per model; a swapped-out model is closed after its last batch."""
        primary = self._load(self.registry.resolve(name, pointer), "primary")
        self._seen[pointer] = self._state(pointer)
        self.slots = Slots(primary, Decoder(primary.manifest, max_event_bytes, payload))
        if candidate_pointer:
            self._seen[candidate_pointer] = (None, None)
            self.poll_once()

    def start(self) -> ModelWatcher:
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling (worker shutdown, after the scorer pool finished)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll_once()
            except Exception:  # never let the watcher die; the old version keeps serving
                log.exception("model watcher poll failed", extra={"model": self.name})

    def poll_once(self) -> None:
        """Check both pointers once and swap what changed (runs in the watcher thread)."""
        state = self._state(self.pointer)
        if state != self._seen.get(self.pointer):
            self._seen[self.pointer] = state
            version = state[0]
            if version is not None and version != self.slots.primary.version:
                model = self._try_load(version, "primary")
                if model is not None:
                    old = self.slots
                    decoder = Decoder(model.manifest, self.max_event_bytes, self.payload)
                    self.slots = Slots(model, decoder, old.candidate)
                    self.metrics.reloads.labels(model=self.name, slot="primary").inc()
                    log.info("hot swap: primary %s -> %s", old.primary.version, version,
                             extra={"model": self.name})
                    self.leases.retire(old.primary)
        if not self.candidate_pointer:
            return
        state = self._state(self.candidate_pointer)
        if state == self._seen.get(self.candidate_pointer):
            return
        self._seen[self.candidate_pointer] = state
        version = state[0]
        current = self.slots.candidate
        if version is None:
            if current is not None:
                self.slots = Slots(self.slots.primary, self.slots.decoder, None)
                self.leases.retire(current)
                self.metrics.reloads.labels(model=self.name, slot="candidate").inc()
                log.info("candidate pointer cleared", extra={"model": self.name})
            return
        if current is not None and current.version == version:
            return
        model = self._try_load(version, "candidate")
        if model is None:
            return
        if model.manifest.feature_names != self.slots.primary.manifest.feature_names:
            self._reject(version, "candidate features differ from the primary's")
            return
        self.slots = Slots(self.slots.primary, self.slots.decoder, model)
        if current is not None:
            self.leases.retire(current)
        self.metrics.reloads.labels(model=self.name, slot="candidate").inc()
        log.info("candidate -> %s", version, extra={"model": self.name})

    def _state(self, pointer: str) -> tuple[str | None, int | None]:
        return self.registry.pointer(self.name, pointer), self.registry.pointer_mtime_ns(
            self.name, pointer
        )

    def _try_load(self, version: str, slot: str) -> ScoringModel | None:
        try:
            return self._load(self.registry.get(self.name, version), slot)
        except (RegistryError, ModelLoadError) as exc:
            self._reject(version, str(exc))
            return None

    def _load(self, version: ModelVersion, slot: str) -> ScoringModel:
        model = self.factory(version)
        self.metrics.loads.labels(model=self.name, version=version.version).inc()
        self.metrics.serving(slot, model.name, model.version, model.runtime, model.device)
        checksum = ",".join(a.sha256[:16] for a in version.manifest.artifacts
                            if a.format == model.runtime) or ",".join(
            f"{a.format}:{a.sha256[:16]}" for a in version.manifest.artifacts)
        log.info("loaded %s/%s as %s: runtime %s on %s, sha256 %s", model.name, model.version,
                 slot, model.runtime, model.device, checksum,
                 extra={"model": model.name, "version": model.version, "slot": slot,
                        "runtime": model.runtime, "device": model.device, "sha256": checksum})
        return model

    def _reject(self, version: str, why: str) -> None:
        self.metrics.rejects.labels(model=self.name, version=version).inc()
        log.error("rejected %s/%s, old version keeps serving: %s", self.name, version, why,
                  extra={"model": self.name, "version": version})
