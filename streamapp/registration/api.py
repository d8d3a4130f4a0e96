"""``register(model, X_ref, y_ref, ...)``: a complete, validated registry version in one call.

Steps: read and encode the reference data (specs inferred, overridable); run
the optional pre processor; convert the model; write artifact, reference rows,
profile and manifest into a staging directory; load the staged version through
the scorer's own loader and compare its outputs with the source model's on
every reference row (``tolerance``, absolute); compute baseline metrics, the
label-free estimator and the drift profile on held-out rows (``holdout``), or on a
seeded validation split of the reference when none is given (warned when the
reference looks like the training data, see :mod:`streamapp.registration.holdout`);
move the version into place; validate it again with
``streamapp.runtime.checks.check_scoring_model``. Any failure leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.processing import columns, load_callable
from streamapp.registration.convert import Converted, convert, load_file
from streamapp.registration.failures import within_tolerance
from streamapp.registration.frame import (
    RANGE_MARGIN,
    RegistrationError,
    as_frame,
    encode_frame,
    infer_features,
    read_table,
)
from streamapp.registration.holdout import (
    baseline_provenance,
    held_out,
    in_sample_gap,
    warn_in_sample,
)
from streamapp.registration.metrics import baseline_metrics, targets, task_of, validation_rows
from streamapp.registration.tensor_api import TensorOptions, register_tensor
from streamapp.registration.tensor_data import is_tensor_reference
from streamapp.registry.manifest import FeatureSpec, Manifest, OutputSpec, Processing
from streamapp.registry.registry import ModelRegistry, ModelVersion, verified_profile
from streamapp.registry.writer import artifact, staged_version, write_json, write_reference
from streamapp.runtime.checks import check_processor, check_scoring_model
from streamapp.runtime.loader import load_model
from streamapp.statistics import estimation
from streamapp.statistics.calibration import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_TARGET,
    DEFAULT_WINDOWS,
    with_calibration,
)
from streamapp.statistics.profile import build_profile, profile_rows

TOLERANCE = 1e-4
SKLEARN_TRAINER = "streamapp.training.sklearn_trainer:train"
TRAINERS = {"sklearn": SKLEARN_TRAINER, "lightgbm": SKLEARN_TRAINER, "xgboost": SKLEARN_TRAINER}
"""Default trainer by source family: a model registered from sklearn retrains as sklearn."""


@dataclass(frozen=True)
class Registered:
    """What :func:`register` wrote and measured."""

    version: ModelVersion
    files: list[Path]
    max_abs_diff: float | None
    """Largest |artifact - source model| over the reference rows (None: no source to compare)."""
    tolerance: float
    seconds: float
    promoted: str | None


def register(
    model: Any,
    X_ref: Any,
    y_ref: Any = None,
    *,
    name: str,
    registry: ModelRegistry | Path | str = Path("models"),
    task: str = "auto",
    features: Sequence[FeatureSpec] | None = None,
    categorical: Sequence[str] = (),
    range_margin: float | None = RANGE_MARGIN,
    classes: Sequence[int | str] | None = None,
    pre: str | None = None,
    trainer: str | None = None,
    validation_share: float = 0.25,
    tolerance: float = TOLERANCE,
    allow_pickle: bool = False,
    promote: str | None = "auto",
    seed: int = 0,
    baseline: Mapping[str, float] | None = None,
    provenance: Mapping[str, str | int | float] | None = None,
    drift_target: float | None = DEFAULT_TARGET,
    drift_windows: Sequence[int] = DEFAULT_WINDOWS,
    drift_bootstrap: int = DEFAULT_BOOTSTRAP,
    holdout: Any = None,
    y_holdout: Any = None,
    output: str | int | None = None,
    pre_options: Mapping[str, Any] | None = None,
    files: Mapping[str, Path | str] | None = None,
) -> Registered:
    """Register ``model`` as the next version of ``name``; raises :class:`RegistrationError`.

    ``model``: a fitted scikit-learn / LightGBM / XGBoost model, a TorchScript
    module, ONNX bytes, or a path (``.onnx``, ``.pt``; a pickle only with
    ``allow_pickle``). ``X_ref``: DataFrame, dict of columns, array or CSV /
    Parquet path. ``y_ref``: labels, or the name of the label column in
    ``X_ref``. ``pre``: import path of a pre processor the model was trained
    behind. ``promote="auto"`` points ``production`` at the version when the model
    has no production version yet. ``baseline`` replaces the metrics computed on
    the validation split (a trainer passes its held-out metrics); ``provenance``
    is added to the manifest's ``training`` field. ``drift_target``: expected
    stationary events between false alarms of each drift trigger; the thresholds
    for each of ``drift_windows`` are bootstrapped (``drift_bootstrap``
    replicates) into the profile (None: no calibration, fixed policy thresholds).
    ``holdout`` / ``y_holdout``: rows the model was not fitted on (same forms as ``X_ref`` /
    ``y_ref``; ``y_holdout`` defaults to ``y_ref``'s column name): baseline metrics, the
    estimator and the reference profile come from them. Without them, the baseline comes
    from a ``validation_share`` split of the reference, and a :class:`InSampleWarning` says
    when the reference looks like the model's training data.

    **Tensor models** (tensor, text or bytes features; :mod:`.tensor_api`): ``model`` is a
    ``torch.nn.Module`` (scripted, or traced on the reference inputs), a TorchScript module
    or file, or an ONNX model (bytes or file) with named inputs; ``output`` picks the
    prediction among its outputs (dict key / ONNX output name, or tuple / output position).
    ``X_ref``: a dict ``{feature: array | list[str] | list[bytes]}``, a
    :class:`~streamapp.inputs.FeatureBatch`, or a ``.npz`` / ``.npy`` / JSONL / Parquet
    path (:mod:`.tensor_data`). ``pre`` is then a processor built ``from_context`` with
    ``pre_options`` (``processing.options``) and ``files`` (artifact format → path, e.g.
    ``{"tokenizer": "tokenizer.json"}``), copied into the version and checksummed. Its drift
    profile covers the sketch columns the monitor watches (:mod:`streamapp.inputs.sketch`).
    """
    started = time.perf_counter()
    reg = registry if isinstance(registry, ModelRegistry) else ModelRegistry(Path(registry))
    if is_tensor_reference(X_ref, features) or pre_options or files or _eager_torch(model):
        options = TensorOptions(
            name=name, registry=reg, task=task, features=features, categorical=categorical,
            range_margin=range_margin, classes=classes, pre=pre, pre_options=pre_options or {},
            files=files or {}, output=output, trainer=trainer,
            validation_share=validation_share, tolerance=tolerance, seed=seed,
            baseline=baseline, provenance=provenance, drift_target=drift_target,
            drift_windows=drift_windows, drift_bootstrap=drift_bootstrap,
            allow_pickle=allow_pickle)
        done = register_tensor(model, X_ref, y_ref, holdout, y_holdout, options)
        made = done.version
        pointer = _promote(reg, made, promote)
        listed = sorted(p for p in made.path.iterdir() if p.is_file())
        return Registered(made, listed, done.max_abs_diff, tolerance,
                          time.perf_counter() - started, pointer)
    if output is not None or pre_options or files:
        raise RegistrationError("output, pre_options and files are for tensor models (tensor, "
                                "text or bytes features)")
    frame = read_table(Path(X_ref)) if isinstance(X_ref, str | Path) else as_frame(X_ref)
    label_column = y_ref if isinstance(y_ref, str) else None
    if isinstance(y_ref, str):
        if y_ref not in frame.columns:
            raise RegistrationError(f"label column {y_ref!r} is not in the reference data")
        frame, y_ref = frame.drop(columns=[y_ref]), frame[y_ref].to_numpy()
    if y_ref is not None and len(y_ref) != len(frame):
        raise RegistrationError(f"{len(y_ref)} labels for {len(frame)} reference rows")
    overrides = {f.name: f for f in features or []}
    specs = infer_features(frame, overrides, categorical, range_margin)
    encoded = encode_frame(frame, specs)
    held = held_out(holdout, y_holdout, label_column, specs)
    model_input = encoded
    if pre is not None:
        model_input = check_processor(load_callable(pre, "pre processor"), columns(specs, encoded))
    if isinstance(model, str | Path):
        model = load_file(Path(model), allow_pickle)
    conv = convert(model, model_input[:2])
    the_task = task_of(task, conv.classification, classes or conv.classes, y_ref)
    class_list = list(classes or conv.classes or []) or None
    if the_task.is_classification and class_list is None:
        class_list = sorted({str(v) for v in np.asarray(y_ref)}) if y_ref is not None else None
    y = targets(the_task, class_list, y_ref) if y_ref is not None else None
    y_held = targets(the_task, class_list, held.y) if held and held.y is not None else None
    gap = None
    if held is None and y_ref is not None and baseline is None:
        gap = in_sample_gap(model, model_input, y_ref, the_task, seed)
        if gap is not None and gap.suspicious:
            warn_in_sample(gap)
    version = reg.next_version(name)
    processing = Processing(pre=pre, input_width=int(model_input.shape[1])) if pre else None
    with staged_version(reg, name, version) as staging:
        (staging / conv.filename).write_bytes(conv.data)
        write_reference(staging, encoded)
        manifest = Manifest(
            name=name,
            version=version,
            task=the_task,
            features=specs,
            output=OutputSpec(name=conv.output_name, classes=class_list),
            input_name=conv.input_name,
            artifacts=[artifact(staging, conv.format, conv.filename)],
            created_at=datetime.now(UTC),
            training={
                **conv.provenance,
                "registered_rows": len(encoded),
                "seed": seed,
                **baseline_provenance(held, gap, baseline is not None),
                **(provenance or {}),
            },
            processing=processing,
            trainer=trainer or TRAINERS.get(conv.provenance.get("source", "")),
        )
        staged = ModelVersion(name, version, staging, manifest)
        served = _outputs(staged, encoded)
        diff = _compare(conv, model_input, served, tolerance)
        # Baseline, estimator and profile: held-out rows when given, else a reference split.
        if held is not None:
            rows_x, rows_out, rows_y = held.x, _outputs(staged, held.x), y_held
            picked = np.arange(len(held.x))
        else:
            rows_x, rows_out, rows_y = encoded, served, y
            picked = validation_rows(len(encoded), validation_share, seed)
        metrics = (
            dict(baseline)
            if baseline is not None
            else baseline_metrics(the_task, rows_out[picked], None if rows_y is None
                                  else rows_y[picked])
        )
        manifest = Manifest.model_validate({**manifest.model_dump(), "baseline_metrics": metrics})
        profile_x = profile_rows(encoded, held.x if held else None, name)
        profile_out = rows_out if profile_x is rows_x else served
        profile = with_calibration(
            build_profile(manifest, profile_x, profile_out),
            drift_target,
            drift_windows,
            drift_bootstrap,
            seed,
        )
        if rows_y is not None:
            fitted = estimation.fit(
                manifest, profile, rows_x[picked], rows_out[picked], rows_y[picked]
            )
            profile = profile.model_copy(update={"estimator": fitted})
        write_json(staging, manifest, profile)
    made = reg.get(name, version)
    verified_profile(made)
    check_scoring_model(load_model(made, "auto", "cpu"), encoded[:256])
    pointer = _promote(reg, made, promote)
    written = sorted(p for p in made.path.iterdir() if p.is_file())
    return Registered(made, written, diff, tolerance, time.perf_counter() - started, pointer)


def _outputs(version: ModelVersion, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The staged version's outputs on every row, through the scorer's loader (validated)."""
    model = load_model(version, "auto", "cpu")
    try:
        parts = [model.predict(rows[i : i + 4096]) for i in range(0, len(rows), 4096)]
        return np.concatenate(parts)
    finally:
        model.close()


def _compare(
    conv: Converted, x: npt.NDArray[np.float32], served: npt.NDArray[np.float32], tol: float
) -> float | None:
    if conv.source is None:
        return None
    expected = conv.source(x).reshape(served.shape)
    return within_tolerance(expected, served, tol, "check the exporter options "
                            "(float32 input, zipmap=False)")


def _eager_torch(model: Any) -> bool:
    """A ``torch.nn.Module`` that is not TorchScript: only the tensor path scripts one."""
    mro = [f"{c.__module__}.{c.__qualname__}" for c in type(model).__mro__]
    return "torch.nn.modules.module.Module" in mro and not any(
        m.startswith("torch.jit.") for m in mro)


def _promote(reg: ModelRegistry, made: ModelVersion, promote: str | None) -> str | None:
    if promote == "auto":
        promote = "production" if reg.pointer(made.name, "production") is None else None
    if promote is not None:
        reg.promote(made.name, made.version, promote)
    return promote
