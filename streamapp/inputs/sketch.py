"""Scalar summaries of tensor, text and bytes features: what the monitor profiles for drift.

A prediction log record of a tensor model carries these instead of the raw values
(megabytes of pixels would flood the log), so the monitor's binned drift statistics,
calibrated to a false-alarm target at registration like any scalar feature's, watch
a fixed low-dimensional view of each input:

- ``tensor``: ``NAME.proj0`` … ``NAME.proj3``, the value (a variable axis averaged
  out) projected on fixed random directions seeded by the feature's name, and
  ``NAME.rms``, its root mean square; with a variable axis also ``NAME.length``;
- ``text``: ``NAME.chars`` and ``NAME.words``;
- ``bytes``: ``NAME.bytes``;
- whatever the pre processor's ``sketch(columns)`` returns (token counts and
  unknown-token rates, per-channel image statistics).
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from streamapp.inputs.batch import FeatureBatch, FeatureColumn, processor_columns
from streamapp.processing import columns as scalar_columns
from streamapp.registry.manifest import FeatureSpec, Manifest

log = logging.getLogger(__name__)
PROJECTIONS = 4
"""Random directions per tensor feature (each a monitored column)."""
Vector = npt.NDArray[np.float64]


class Sketcher:
    """Computes the monitored columns of one tensor model's features (thread-safe)."""

    def __init__(self, manifest: Manifest, pre: object | None = None) -> None:
        self.manifest = manifest
        self._pre_sketch: Callable[[Any], dict[str, Any]] | None = getattr(pre, "sketch", None)
        self._directions: dict[tuple[str, int], Vector] = {}
        self._warned = -math.inf

    def columns(self, batch: FeatureBatch) -> dict[str, Vector]:
        """Column name → one float64 value per row of ``batch`` (NaN where undefined)."""
        out: dict[str, Vector] = {}
        for spec in self.manifest.features:
            if spec.type == "tensor":
                out.update(self._tensor(spec, batch.columns[spec.name]))
            elif spec.type == "text":
                texts = batch.columns[spec.name]
                out[f"{spec.name}.chars"] = np.fromiter(map(len, texts), np.float64, len(texts))
                out[f"{spec.name}.words"] = np.fromiter(
                    (len(t.split()) for t in texts), np.float64, len(texts))
            elif spec.type == "bytes":
                values = batch.columns[spec.name]
                out[f"{spec.name}.bytes"] = np.fromiter(map(len, values), np.float64, len(values))
        if self._pre_sketch is not None and len(batch):
            try:
                extra = self._pre_sketch(processor_columns(self.manifest, batch))
                out.update({k: np.asarray(v, dtype=np.float64).reshape(len(batch))
                            for k, v in extra.items()})
            except Exception as exc:  # the processor's summaries are missing, nothing else
                self._warn(exc)
        return out

    def _warn(self, exc: Exception) -> None:
        """A failing ``sketch``: its columns are left out of these log records (the monitor
        counts them missing); one warning a minute, scoring goes on."""
        now = time.monotonic()
        if now - self._warned >= 60.0:
            self._warned = now
            log.warning("%s/%s: the pre processor's sketch failed (%s: %s); its drift columns "
                        "are missing from these log records", self.manifest.name,
                        self.manifest.version, type(exc).__name__, str(exc)[:200])

    def json_rows(self, batch: FeatureBatch) -> list[bytes]:
        """Each row's ``features`` object for the prediction log: its scalar features as
        sent (categories decoded) and its sketch columns (NaN written as null)."""
        n = len(batch)
        if not n:
            return []
        values: dict[str, list[Any]] = {
            k: v.tolist() for k, v in scalar_columns(self.manifest.scalar_features,
                                                     batch.matrix).items()}
        values.update({k: v.tolist() for k, v in self.columns(batch).items()})
        names = list(values)
        dumps = orjson.dumps
        return [dumps(dict(zip(names, row, strict=True)))
                for row in zip(*values.values(), strict=True)]

    def _tensor(self, spec: FeatureSpec, column: FeatureColumn) -> dict[str, Vector]:
        name = spec.name
        axis = spec.variable_axis
        out: dict[str, Vector] = {}
        if axis is None:
            array = np.asarray(column)
            flat = array.reshape(len(array), -1).astype(np.float64)
        else:
            items = list(column)
            out[f"{name}.length"] = np.array([a.shape[axis] for a in items], dtype=np.float64)
            width = math.prod(d for d in spec.shape or () if d is not None)
            flat = np.array([
                a.astype(np.float64).mean(axis=axis).reshape(-1) if a.shape[axis]
                else np.full(width, np.nan) for a in items
            ]).reshape(len(items), width)
        directions = self._direction(name, flat.shape[1])
        projected = flat @ directions
        for j in range(PROJECTIONS):
            out[f"{name}.proj{j}"] = projected[:, j]
        out[f"{name}.rms"] = np.sqrt((flat**2).mean(axis=1)) if flat.shape[1] else np.zeros(
            len(flat))
        return out

    def _direction(self, name: str, width: int) -> Vector:
        """Fixed unit-scale random directions ``(width, PROJECTIONS)`` seeded by ``name``:
        registration and every worker project alike."""
        key = (name, width)
        found = self._directions.get(key)
        if found is None:
            rng = np.random.default_rng(zlib.crc32(name.encode()))
            found = rng.standard_normal((width, PROJECTIONS)) / math.sqrt(max(width, 1))
            self._directions[key] = found
        return found
