"""``register()`` for tensor models: tensor, text and bytes features fed to named inputs.

The same steps and guarantees as a scalar model's registration
(:mod:`streamapp.registration.api`): the reference rows are decoded by the scorer's own
decoder, the optional pre processor is built from the version's own files and options,
the artifact is staged with every file checksummed, loaded through the scorer's loader,
and its outputs are compared with the source model's on every reference row. The
baseline metrics, the label-free estimator and the drift profile come from held-out rows
(or a seeded split of the reference). The profile of a tensor model describes its
scalar features and its **sketch columns**
(:class:`~streamapp.inputs.sketch.Sketcher`: random projections and RMS of tensors,
text lengths, byte counts and the pre processor's own ``sketch``), the columns its
prediction log records carry, each with a calibrated drift threshold.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.inputs.batch import FeatureBatch, direct_inputs, processor_columns
from streamapp.inputs.reference import TENSOR_REFERENCE_FILE, save_reference
from streamapp.inputs.sketch import Sketcher
from streamapp.processing import Bucket, ModelInputs, load_processors
from streamapp.registration.failures import within_tolerance
from streamapp.registration.frame import RegistrationError
from streamapp.registration.holdout import baseline_provenance
from streamapp.registration.metrics import baseline_metrics, targets, task_of, validation_rows
from streamapp.registration.tensor_convert import (
    Signature,
    TensorConverted,
    convert_tensor,
    signature,
)
from streamapp.registration.tensor_data import (
    decode,
    infer_tensor_features,
    pop_labels,
    read_raw,
    rows_of,
)
from streamapp.registry.manifest import (
    FeatureSpec,
    Manifest,
    NumericProfile,
    OutputSpec,
    Processing,
    ReferenceProfile,
)
from streamapp.registry.registry import ModelRegistry, ModelVersion, verified_profile
from streamapp.registry.writer import N_REFERENCE_ROWS, artifact, staged_version, write_json
from streamapp.runtime.checks import check_scoring_model
from streamapp.runtime.loader import load_model
from streamapp.statistics import estimation
from streamapp.statistics.calibration import with_calibration
from streamapp.statistics.profile import MIN_PROFILE_ROWS, build_profile, numeric_profile

CHUNK = 1024
"""Rows per model call when scoring the reference through the loaded version."""
RESERVED_FILES = frozenset({"manifest.json", "profile.json", TENSOR_REFERENCE_FILE,
                            "model.pt", "model.onnx"})


@dataclass(frozen=True)
class TensorOptions:
    """What :func:`streamapp.registration.register` passes through for a tensor model."""

    name: str
    registry: ModelRegistry
    task: str
    features: Sequence[FeatureSpec] | None
    categorical: Sequence[str]
    range_margin: float | None
    classes: Sequence[int | str] | None
    pre: str | None
    pre_options: Mapping[str, Any]
    files: Mapping[str, Path | str]
    output: str | int | None
    trainer: str | None
    validation_share: float
    tolerance: float
    seed: int
    baseline: Mapping[str, float] | None
    provenance: Mapping[str, str | int | float] | None
    drift_target: float | None
    drift_windows: Sequence[int]
    drift_bootstrap: int
    allow_pickle: bool


@dataclass(frozen=True)
class TensorRegistered:
    version: ModelVersion
    max_abs_diff: float | None


def register_tensor(model: Any, X_ref: Any, y_ref: Any, holdout: Any, y_holdout: Any,
                    o: TensorOptions) -> TensorRegistered:
    """Stage, validate and write a tensor model's version (see the module); raises
    :class:`RegistrationError` (or the loader's error) and leaves nothing behind."""
    raw = read_raw(X_ref, o.features)
    label_column = y_ref if isinstance(y_ref, str) else None
    if label_column is not None:
        raw, y_ref = pop_labels(raw, label_column)
    n = rows_of(raw)
    if n == 0:
        raise RegistrationError("the reference data has no rows")
    if y_ref is not None and len(y_ref) != n:
        raise RegistrationError(f"{len(y_ref)} labels for {n} reference rows")
    overrides = {f.name: f for f in o.features or []}
    specs = infer_tensor_features(raw, overrides, o.categorical, o.range_margin)
    model = _model(model, o.allow_pickle)
    sig = signature(model)
    specs, input_name = _wire_inputs(specs, sig, o.pre is not None, set(overrides))
    batch = decode(raw, specs)
    held, y_held = _held(holdout, y_holdout, label_column, specs)
    files = {fmt: Path(p) for fmt, p in o.files.items()}
    for fmt, path in files.items():
        if not path.is_file():
            raise RegistrationError(f"file {fmt}={path}: no such file")
        if path.name in RESERVED_FILES:
            raise RegistrationError(f"file {fmt}={path}: {path.name} is a name the version "
                                    "uses itself; rename the file")
    processing = (Processing(pre=o.pre, options=dict(o.pre_options)) if o.pre else None)
    if processing is None and (o.pre_options or files):
        raise RegistrationError("pre_options and files are for a pre processor (pre=...)")
    reg, version = o.registry, o.registry.next_version(o.name)
    with staged_version(reg, o.name, version) as staging:
        extra = []
        for fmt, path in files.items():
            shutil.copyfile(path, staging / path.name)
            extra.append(artifact(staging, fmt, path.name))
        fields: dict[str, Any] = {"name": o.name, "version": version, "features": specs,
                                  "input_name": input_name, "processing": processing}
        draft = Manifest.model_construct(**fields)
        example_rows = batch[:2]
        pre = _pre(draft, staging, files)
        example = _model_inputs(draft, pre, example_rows)
        conv = convert_tensor(model, sig, example[0].inputs, o.output)
        (staging / conv.filename).write_bytes(conv.data)
        probe = _probe(conv, staging, example[0].inputs)
        classification = None if probe is None else _looks_like_probabilities(probe)
        the_task = task_of(o.task, classification, o.classes, y_ref)
        class_list = list(o.classes or []) or None
        if the_task.is_classification and class_list is None and y_ref is not None:
            class_list = sorted({_plain(v) for v in np.asarray(y_ref)},
                                key=lambda v: (isinstance(v, str), v))
        if the_task.is_classification and class_list is None:
            raise RegistrationError("a classifier needs its classes: pass classes= or labels")
        manifest = Manifest(
            name=o.name,
            version=version,
            task=the_task,
            features=specs,
            output=OutputSpec(name=conv.output_name, index=conv.output_index,
                              classes=class_list),
            input_name=input_name,
            artifacts=[artifact(staging, conv.format, conv.filename), *extra],
            created_at=datetime.now(UTC),
            training={
                **conv.provenance,
                "registered_rows": n,
                "seed": o.seed,
                **baseline_provenance(None, None, o.baseline is not None),
                **({"baseline": "holdout", "holdout_rows": len(held)} if held is not None
                   and o.baseline is None else {}),
                **(o.provenance or {}),
            },
            processing=processing,
            trainer=o.trainer,
        )
        save_reference(staging / TENSOR_REFERENCE_FILE, manifest, batch, N_REFERENCE_ROWS)
        staged = ModelVersion(o.name, version, staging, manifest)
        loaded = load_model(staged, "auto", "cpu")
        try:
            served = _scores(loaded, batch)
            held_out = _scores(loaded, held) if held is not None else None
            sketcher = loaded.sketcher
            diff = _compare(conv, manifest, pre, batch, served, o.tolerance)
            y = targets(the_task, class_list, y_ref) if y_ref is not None else None
            yh = targets(the_task, class_list, y_held) if y_held is not None else None
            if held is not None and held_out is not None:
                rows_b, rows_out, rows_y = held, held_out, yh
                picked = np.arange(len(held))
            else:
                rows_b, rows_out, rows_y = batch, served, y
                picked = validation_rows(n, o.validation_share, o.seed)
            metrics = (dict(o.baseline) if o.baseline is not None else baseline_metrics(
                the_task, rows_out[picked], None if rows_y is None else rows_y[picked]))
            manifest = Manifest.model_validate({**manifest.model_dump(),
                                                "baseline_metrics": metrics})
            if held is not None and held_out is not None and len(held) >= MIN_PROFILE_ROWS:
                profile_b, profile_out = held, held_out
            else:
                profile_b, profile_out = batch, served
            view, matrix = profile_view(manifest, sketcher, profile_b)
            profile = with_calibration(
                _profile(view, matrix, profile_out), o.drift_target, o.drift_windows,
                o.drift_bootstrap, o.seed)
            if rows_y is not None:
                rview, rmatrix = profile_view(manifest, sketcher, rows_b[picked])
                fitted = estimation.fit(rview, profile, rmatrix, rows_out[picked],
                                        rows_y[picked])
                profile = profile.model_copy(update={"estimator": fitted})
        finally:
            loaded.close()
        write_json(staging, manifest, profile)
    made = reg.get(o.name, version)
    try:
        verified_profile(made)
        final = load_model(made, "auto", "cpu")
        try:
            check_scoring_model(final, batch[:256])
        finally:
            final.close()
    except BaseException:  # the version was moved into place: take it out again
        shutil.rmtree(made.path, ignore_errors=True)
        raise
    return TensorRegistered(made, diff)


def profile_view(manifest: Manifest, sketcher: Sketcher, batch: FeatureBatch
                 ) -> tuple[Manifest, npt.NDArray[np.float32]]:
    """What the monitor sees of ``batch``: a manifest whose features are the scalar features
    plus one numeric pseudo-feature per sketch column, and that view's matrix."""
    sketches = sketcher.columns(batch)
    specs = [*manifest.scalar_features,
             *(FeatureSpec(name=name, type="numeric") for name in sketches)]
    view = manifest.model_copy(update={"features": specs})
    parts = [batch.matrix.astype(np.float32), *(
        np.asarray(v, dtype=np.float32).reshape(-1, 1) for v in sketches.values())]
    return view, np.hstack(parts) if parts else np.empty((len(batch), 0), np.float32)


def _profile(view: Manifest, matrix: npt.NDArray[np.float32],
             outputs: npt.NDArray[np.float32]) -> ReferenceProfile:
    """:func:`build_profile` of the view; a sketch column with undefined (NaN) values is
    profiled on its defined ones."""
    finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(matrix).all(axis=0))
    profile = build_profile(view, np.where(np.isfinite(matrix), matrix, 0.0), outputs)
    if finite.all():
        return profile
    numeric: dict[str, NumericProfile] = dict(profile.numeric)
    for i, spec in enumerate(view.features):
        if not finite[i]:
            values = matrix[:, i][np.isfinite(matrix[:, i])]
            if len(values) == 0:
                numeric.pop(spec.name, None)
            else:
                numeric[spec.name] = numeric_profile(values)
    return profile.model_copy(update={"numeric": numeric})


def _model(model: Any, allow_pickle: bool) -> Any:
    if isinstance(model, str | Path):
        path = Path(model)
        if path.suffix.lower() not in (".onnx", ".pt", ".ts"):
            raise RegistrationError(f"{path}: a tensor model is a .onnx or TorchScript .pt file")
        if not path.is_file():
            raise RegistrationError(f"{path}: no such file")
        return path
    return model


def _wire_inputs(specs: list[FeatureSpec], sig: Signature, has_pre: bool,
                 declared: set[str]) -> tuple[list[FeatureSpec], str]:
    """Tensor features matched to the model's inputs (by name, or the one left over) and the
    input the scalar matrix feeds; dtypes taken from an ONNX graph's inputs where inferred
    float32 would not feed them."""
    scalar = [s for s in specs if s.is_scalar]
    if has_pre:
        return specs, "features"
    tensors = [s for s in specs if s.type == "tensor"]
    taken = {s.model_input for s in tensors if s.model_input in sig.inputs}
    free = [i for i in sig.inputs if i not in taken]
    unmatched = [s for s in tensors if s.model_input not in sig.inputs]
    out = list(specs)
    if len(unmatched) == 1 and len(free) == 1 + (1 if scalar else 0) and not scalar:
        spec = unmatched[0]
        out[out.index(spec)] = spec.model_copy(update={"input": free[0]})
        free, unmatched = [], []
    if unmatched:
        raise RegistrationError(
            f"tensor features {[s.name for s in unmatched]} match no model input "
            f"{sig.inputs}; name each after its input, or set FeatureSpec(input=...)")
    input_name = "features"
    if scalar:
        if len(free) != 1:
            raise RegistrationError(
                f"the scalar features {[s.name for s in scalar]} feed one (n, {len(scalar)}) "
                f"input, but the model's inputs left are {free}")
        input_name = free[0]
    elif free:
        raise RegistrationError(f"model inputs {free} are fed by no feature")
    for i, spec in enumerate(out):
        wanted = sig.dtypes.get(spec.model_input) if spec.type == "tensor" else None
        if wanted and spec.name not in declared and wanted != spec.dtype:
            out[i] = spec.model_copy(update={"dtype": wanted})
    return [FeatureSpec.model_validate(s.model_dump()) for s in out], input_name


def _held(holdout: Any, y_holdout: Any, label_column: str | None,
          specs: Sequence[FeatureSpec]) -> tuple[FeatureBatch | None, Any]:
    if holdout is None:
        if y_holdout is not None:
            raise RegistrationError("y_holdout needs holdout (the held-out rows)")
        return None, None
    raw = read_raw(holdout, specs)
    column = y_holdout if isinstance(y_holdout, str) else None
    if column is None and y_holdout is None and label_column is not None and not isinstance(
            raw, FeatureBatch) and label_column in raw:
        column = label_column
    y = y_holdout
    if column is not None:
        raw, y = pop_labels(raw, column)
    n = rows_of(raw)
    if n == 0:
        raise RegistrationError("the holdout data has no rows")
    if y is not None and len(y) != n:
        raise RegistrationError(f"{len(y)} holdout labels for {n} holdout rows")
    return decode(raw, specs, "holdout"), y


def _pre(draft: Manifest, staging: Path, files: Mapping[str, Path]) -> Any:
    """The pre processor as a worker builds it: from the staged files and the options."""
    if draft.processing is None:
        return None
    staged = {fmt: staging / path.name for fmt, path in files.items()}
    try:
        return load_processors(draft, staged).pre
    except (ImportError, TypeError, ValueError, OSError) as exc:
        raise RegistrationError(f"pre processor {draft.processing.pre}: {exc}") from exc


def _model_inputs(manifest: Manifest, pre: Any, batch: FeatureBatch) -> list[Bucket]:
    """The model inputs of ``batch`` as buckets (one bucket of every row without buckets)."""
    every = np.arange(len(batch), dtype=np.int64)
    if pre is None:
        return [Bucket(every, direct_inputs(manifest, batch))]
    try:
        made = pre(processor_columns(manifest, batch))
    except Exception as exc:
        what = manifest.processing.pre if manifest.processing else ""
        raise RegistrationError(f"pre processor {what} failed on the reference rows: "
                                f"{type(exc).__name__}: {exc}") from exc
    if isinstance(made, list):
        return [b for b in made if len(b.rows)]
    if not isinstance(made, dict):
        raise RegistrationError(f"the pre processor returned {type(made).__name__}; a tensor "
                                "model's pre returns {input: array} or a list of Bucket")
    return [Bucket(every, made)]


def _probe(conv: TensorConverted, staging: Path, inputs: ModelInputs
           ) -> npt.NDArray[np.float64] | None:
    """The prediction on a few rows (the source's; an ONNX file's through onnxruntime), to
    tell a classifier from a regressor; None when it cannot be run here."""
    if conv.source is not None:
        return conv.source(inputs)
    if conv.format != "onnx":
        return None
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(str(staging / conv.filename),
                                       providers=["CPUExecutionProvider"])
        (out,) = session.run([conv.output_name], inputs)
    except Exception:  # the loader reports what is wrong with the artifact
        return None
    return np.asarray(out, dtype=np.float64)


def _looks_like_probabilities(out: npt.NDArray[np.float64]) -> bool | None:
    """A bare output's task: rows of >= 2 non-negative values summing to 1 → classification."""
    out = out.reshape(len(out), -1)
    if out.shape[1] < 2:
        return False
    return bool((out >= -1e-6).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-4))


def _scores(model: Any, batch: FeatureBatch) -> npt.NDArray[np.float32]:
    parts = [model.score(batch[i:i + CHUNK]) for i in range(0, len(batch), CHUNK)]
    return np.concatenate(parts)


def _compare(conv: TensorConverted, manifest: Manifest, pre: Any, batch: FeatureBatch,
             served: npt.NDArray[np.float32], tol: float) -> float | None:
    """Largest |source - served| over every reference row; raises above ``tol``."""
    if conv.source is None:
        return None
    expected = np.empty(served.shape, dtype=np.float64)
    for start in range(0, len(batch), CHUNK):
        part = batch[start:start + CHUNK]
        for bucket in _model_inputs(manifest, pre, part):
            out = conv.source(bucket.inputs)
            expected[start + bucket.rows] = out.reshape(len(bucket.rows), -1)
    return within_tolerance(expected, served, tol, "put the model in eval mode (model.eval(): "
                            "dropout and batch norm) and check that its output does not depend "
                            "on the rest of the batch")


def _plain(value: Any) -> int | str:
    value = value.item() if isinstance(value, np.generic) else value
    return value if isinstance(value, int) and not isinstance(value, bool) else str(value)
