"""Load and validate a model version from the registry into a :class:`ScoringModel`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from streamapp.inputs.batch import FeatureBatch
from streamapp.inputs.reference import TENSOR_REFERENCE_FILE, load_reference
from streamapp.plugins import PluginError
from streamapp.registry.manifest import REFERENCE_FILE
from streamapp.registry.registry import ModelVersion, RegistryError, verified_artifact_path
from streamapp.runtime.base import ModelLoadError, ModelRows, ScoringModel
from streamapp.runtime.catalog import DEFAULT_RUNTIMES, RuntimeCatalog
from streamapp.runtime.device import DeviceChoice, resolve_device

Precision = Literal["fp32", "fp16", "bf16"]


def load_model(
    version: ModelVersion,
    runtime: str = "auto",
    device: DeviceChoice = "auto",
    intra_threads: int = 1,
    runtimes: RuntimeCatalog = DEFAULT_RUNTIMES,
    *,
    precision: Precision = "fp32",
    tolerance: float = 0.02,
    memory_fraction: float | None = None,
) -> ScoringModel:
    """Load the artifact (checksum verified first) and validate it on reference rows.

    ``runtime`` is a name in ``runtimes`` or ``auto`` (the first registered
    runtime the manifest has an artifact for). With ``precision`` fp16 / bf16 the
    torch runtime serves in that precision once its outputs on the reference rows
    are within ``tolerance`` of fp32's. ``memory_fraction`` caps this process's
    share of the CUDA device. Raises :class:`ModelLoadError` for any failure:
    unknown runtime, missing or tampered artifact, wrong shapes, outputs that are
    not finite / not probabilities, or too far from fp32.
    """
    manifest = version.manifest
    tag = f"{version.name}/{version.version}"
    try:
        candidates = runtimes.entries if runtime == "auto" else [runtimes.get(runtime)]
    except KeyError as exc:
        raise ModelLoadError(f"{tag}: {exc.args[0]}") from None
    found = next(
        ((e, a) for e in candidates if (a := manifest.artifact(e.format)) is not None), None
    )
    if found is None:
        formats = [a.format for a in manifest.artifacts]
        raise ModelLoadError(
            f"{tag}: no artifact for runtime {runtime} (artifacts: {formats}; "
            f"runtimes: {runtimes.names})"
        )
    entry, artifact = found
    try:
        path = verified_artifact_path(version, artifact)
        model_formats = {e.format for e in runtimes.entries}
        files = {a.format: verified_artifact_path(version, a) for a in manifest.artifacts
                 if a.format not in model_formats}  # a tokenizer, ...: what processors read
        implementation = entry.load()
    except (RegistryError, PluginError, TypeError) as exc:
        raise ModelLoadError(f"{tag}: {exc}") from exc
    resolved = resolve_device(device)
    if resolved == "cuda" and memory_fraction is not None:
        bound_device_memory(memory_fraction)
    model: ScoringModel = implementation(manifest, path, resolved, intra_threads)
    rows = reference_rows(version)
    if manifest.processing is not None:
        model = with_processors(model, rows, files)
    check_outputs(model, rows)
    if precision != "fp32":
        model = reduced_precision(model, rows, precision, tolerance,
                                  lambda: implementation(manifest, path, resolved, intra_threads,
                                                         precision=precision), files)
    model.warmup(rows)
    return model


def reduced_precision(
    full: ScoringModel, rows: ModelRows, precision: Precision, tolerance: float,
    build: Callable[[], ScoringModel], files: dict[str, Path],
) -> ScoringModel:
    """The model built in ``precision`` once its outputs on ``rows`` are within ``tolerance``
    of ``full``'s (fp32). Raises :class:`ModelLoadError` when the runtime has no such
    precision or the outputs drift further."""
    tag = f"{full.name}/{full.version}"
    try:
        reduced = build()
    except TypeError as exc:  # a runtime without a precision parameter
        raise ModelLoadError(f"{tag}: runtime {full.runtime} has no precision "
                             f"{precision} (the torch runtime has): {exc}") from exc
    if full.manifest.processing is not None:
        reduced = with_processors(reduced, rows, files)
    check_outputs(reduced, rows)
    expected, got = full.score(rows), reduced.score(rows)
    diff = float(np.abs(expected - got).max()) if len(rows) else 0.0
    if diff > tolerance:
        raise ModelLoadError(f"{tag}: {precision} outputs differ from fp32 by up to {diff:.4g} on "
                             f"the reference rows (model.precision_tolerance={tolerance})")
    full.close()
    return reduced


def bound_device_memory(fraction: float) -> None:
    """Cap this process's share of the CUDA device's memory (an allocation above it raises,
    the batch is bisected, and its events dead-lettered rather than the device exhausted)."""
    import torch

    torch.cuda.set_per_process_memory_fraction(fraction)


def with_processors(
    model: ScoringModel, rows: ModelRows, files: dict[str, Path] | None = None
) -> ScoringModel:
    """Wrap ``model`` with its manifest's processors, after checking them on reference rows
    (``files``: the version's other verified artifacts, e.g. a tokenizer, by format).

    Raises :class:`ModelLoadError` when a processor cannot be imported or breaks the
    processing contract (:func:`streamapp.runtime.checks.check_processor`); a tensor
    model's processors are checked by the test inference of :func:`check_outputs`.
    """
    from streamapp.processing import columns, load_processors
    from streamapp.runtime.checks import ConformanceError, check_processor
    from streamapp.runtime.processed import ProcessedModel

    manifest = model.manifest
    tag = f"{model.name}/{model.version}"
    if isinstance(rows, FeatureBatch):
        try:
            return ProcessedModel(model, load_processors(manifest, files))
        except (ImportError, TypeError, ValueError, OSError) as exc:
            raise ModelLoadError(f"{tag}: {exc}") from exc
    try:
        processors = load_processors(manifest, files)
        matrix = rows
        if processors.pre is not None:
            width = manifest.model_input_width
            matrix = check_processor(processors.pre, columns(manifest.features, rows), width=width)
        if processors.post is not None:
            raw = model.predict(matrix)
            check_processor(processors.post, raw, kind="post", width=manifest.output.width)
    except (ImportError, TypeError, ConformanceError) as exc:
        raise ModelLoadError(f"{tag}: {exc}") from exc
    except Exception as exc:  # the artifact itself failed on the processed rows
        raise ModelLoadError(f"{tag}: test inference on processed rows failed: {exc}") from exc
    return ProcessedModel(model, processors)


def reference_rows(version: ModelVersion, limit: int = 256) -> ModelRows:
    """Encoded reference rows shipped with the version (``reference.npy``, no pickle; a
    tensor model's ``reference.npz``, :mod:`streamapp.inputs.reference`)."""
    if version.manifest.is_tensor_model:
        try:
            return load_reference(version.path / TENSOR_REFERENCE_FILE, version.manifest, limit)
        except (OSError, KeyError, ValueError) as exc:
            raise ModelLoadError(f"{version.name}/{version.version}: {TENSOR_REFERENCE_FILE}: "
                                 f"{exc}") from exc
    path = version.path / REFERENCE_FILE
    if not path.is_file():
        raise ModelLoadError(f"{version.name}/{version.version}: {REFERENCE_FILE} is missing")
    rows = np.load(path, allow_pickle=False)
    width = len(version.manifest.features)
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ModelLoadError(
            f"{version.name}/{version.version}: reference rows have shape {rows.shape}, "
            f"manifest has {width} features"
        )
    return np.ascontiguousarray(rows[:limit], dtype=np.float32)


def check_outputs(model: ScoringModel, rows: ModelRows) -> None:
    """Run the model on reference rows; raise :class:`ModelLoadError` on a bad output."""
    tag = f"{model.name}/{model.version}"
    try:
        out = model.score(rows)
    except Exception as exc:
        raise ModelLoadError(f"{tag}: test inference failed: {exc}") from exc
    expected = (len(rows), model.manifest.output.width)
    if out.shape != expected:
        raise ModelLoadError(f"{tag}: output shape {out.shape} != expected {expected}")
    if not np.isfinite(out).all():
        raise ModelLoadError(f"{tag}: non-finite outputs on reference rows")
    if model.manifest.task.is_classification:
        sums = out.sum(axis=1)
        if (out < -1e-4).any() or not np.allclose(sums, 1.0, atol=1e-3):
            raise ModelLoadError(f"{tag}: classifier outputs are not probabilities")
