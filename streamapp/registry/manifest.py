"""Model manifest and reference profile: what a model version promises about itself.

``manifest.json`` says what the artifact expects (ordered features with types
and allowed values), what it returns, and where its artifacts are (with SHA-256
checksums verified before load). ``profile.json`` summarises the training data
for drift detection. Both are plain JSON; nothing here is ever unpickled.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from streamapp.labels import ClassMap
from streamapp.plugins import valid_import_path

MANIFEST_FILE = "manifest.json"
PROFILE_FILE = "profile.json"
REFERENCE_FILE = "reference.npy"


class Task(StrEnum):
    BINARY = "binary_classification"
    MULTICLASS = "multiclass_classification"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


TensorDType = Literal["float32", "float16", "float64", "int64", "int32", "uint8", "bool"]
"""Element types a ``tensor`` feature may declare (little-endian on the wire)."""
SCALAR_KINDS = frozenset({"numeric", "categorical"})


class FeatureSpec(_Strict):
    """One input. Scalars (``numeric``, ``categorical``) are columns of the feature matrix;
    categorical values are encoded as their index in ``categories``. ``tensor``, ``text``
    and ``bytes`` features are whole values per event, fed to the model by name (see
    :attr:`input`) or through a pre processor."""

    name: str = Field(min_length=1)
    type: Literal["numeric", "categorical", "tensor", "text", "bytes"]
    min: float | None = None
    """Smallest allowed numeric value (inclusive); None = unbounded."""
    max: float | None = None
    """Largest allowed numeric value (inclusive); None = unbounded."""
    categories: list[bool | int | str] | None = None
    """Allowed categorical values, in encoding order (``[false, true]``: a boolean feature)."""
    dtype: TensorDType | None = None
    """``tensor``: element type (JSON nested arrays are cast to it; base64 is its raw bytes)."""
    shape: list[int | None] | None = None
    """``tensor``: the shape of one event's value; at most one axis is None (variable)."""
    max_length: int | None = Field(default=None, ge=1)
    """``text``: most characters; ``bytes``: most bytes (longer values are dead-lettered)."""
    media: Literal["image"] | None = None
    """``bytes``: what the bytes encode (``image``: PNG/JPEG/... decoded by a pre processor)."""
    input: str | None = None
    """``tensor``: the model input it feeds (default: the feature's name)."""

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if self.type == "categorical" and not self.categories:
            raise ValueError(f"categorical feature {self.name!r} needs categories")
        if self.type != "categorical" and self.categories:
            raise ValueError(f"{self.type} feature {self.name!r} cannot have categories")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min > max")
        if self.type == "tensor":
            if self.dtype is None or not self.shape:
                raise ValueError(f"tensor feature {self.name!r} needs dtype and shape")
            if sum(d is None for d in self.shape) > 1 or any(
                d is not None and d < 1 for d in self.shape
            ):
                raise ValueError(
                    f"tensor feature {self.name!r}: shape {self.shape} needs positive sizes "
                    "and at most one variable (null) axis"
                )
        elif self.dtype is not None or self.shape is not None or self.input is not None:
            raise ValueError(f"dtype, shape and input are for tensor features ({self.name!r})")
        if self.type in SCALAR_KINDS and self.max_length is not None:
            raise ValueError(f"max_length is for text and bytes features ({self.name!r})")
        if self.media is not None and self.type != "bytes":
            raise ValueError(f"media is for bytes features ({self.name!r})")
        return self

    @property
    def is_scalar(self) -> bool:
        """A column of the float32 feature matrix (numeric or categorical)."""
        return self.type in SCALAR_KINDS

    @property
    def model_input(self) -> str:
        """The model input a tensor feature feeds."""
        return self.input or self.name

    @property
    def variable_axis(self) -> int | None:
        """The index of a tensor's variable axis, or None for a fixed shape."""
        return next((i for i, d in enumerate(self.shape or []) if d is None), None)


class OutputSpec(_Strict):
    """Which of the artifact's outputs is the prediction, and how to read it."""

    name: str = "output"
    """Output tensor name (an ONNX output, or a key of a TorchScript module's dict output);
    the artifact's other outputs (e.g. an ``embedding``) are not computed or ignored."""
    index: int | None = Field(default=None, ge=0)
    """For a TorchScript module that returns a tuple: the position of the prediction."""
    classes: list[int | str] | None = None
    """Classification: class values in output column order (output = probabilities)."""

    @property
    def width(self) -> int:
        return len(self.classes) if self.classes else 1


class Artifact(_Strict):
    """One serialised form of the model, verified by checksum before load."""

    format: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    """Artifact format; the runtime registry maps it to a runtime (onnx, torchscript, ...)."""
    path: str
    """File name relative to the version directory."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Processing(_Strict):
    """User code around the artifact, named by import path (``package.module:attribute``).

    ``pre`` maps a dict of feature columns (manifest order; numeric float32,
    categorical as their category values) to the artifact's float32 input
    matrix of ``input_width`` columns. ``post`` maps the artifact's output
    (``output_width`` columns) to the manifest's output (class probabilities or
    the value). Both run on whole batches; a raise isolates the batch's bad rows
    by bisection like a model error.
    """

    pre: str | None = None
    input_width: int | None = Field(default=None, ge=1)
    """Columns ``pre`` returns (the artifact's input width); required with ``pre``."""
    post: str | None = None
    output_width: int | None = Field(default=None, ge=1)
    """Columns of the artifact's raw output that ``post`` reads; required with ``post``."""
    options: dict[str, Any] = Field(default_factory=dict)
    """JSON options handed to processors built ``from_context`` (e.g. a tokenizer's buckets)."""

    @model_validator(mode="after")
    def _widths(self) -> Processing:
        for path in (self.pre, self.post):
            if path is not None:
                valid_import_path(path)
        if self.post is not None and self.output_width is None:
            raise ValueError("processing.post needs processing.output_width (columns it reads)")
        return self


class Manifest(_Strict):
    """What a model version is and expects. Loading rejects any inconsistency."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    task: Task
    features: list[FeatureSpec] = Field(min_length=1)
    output: OutputSpec
    input_name: str = "features"
    label_field: str = "label"
    artifacts: list[Artifact] = Field(min_length=1)
    created_at: AwareDatetime
    baseline_metrics: dict[str, float] = Field(default_factory=dict)
    """Metrics on the training run's held-out data (e.g. accuracy), for the retrain policy."""
    training: dict[str, str | int | float] = Field(default_factory=dict)
    """Provenance: generator, seed, sample count, parent version."""
    processing: Processing | None = None
    """Optional pre / post processors around the artifact."""
    trainer: str | None = None
    """Import path of the trainer ``streamapp retrain`` uses (default: the torch MLP trainer)."""

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        if self.task.is_classification and not self.output.classes:
            raise ValueError("classification models need output.classes")
        if self.task is Task.BINARY and len(self.output.classes or []) != 2:
            raise ValueError("binary classification needs exactly two classes")
        if self.task is Task.REGRESSION and self.output.classes:
            raise ValueError("regression models have no output.classes")
        if self.output.classes:
            ClassMap(self.output.classes)  # raises when two classes are the same label
        if self.trainer is not None:
            valid_import_path(self.trainer)
        pre = self.processing.pre if self.processing is not None else None
        if pre is not None and self.processing is not None and not self.is_tensor_model and (
            self.processing.input_width is None
        ):
            raise ValueError("processing.pre needs processing.input_width (columns it returns)")
        if pre is None:
            for spec in self.features:
                if spec.type in ("text", "bytes") or spec.variable_axis is not None:
                    raise ValueError(
                        f"feature {spec.name!r} ({spec.type}"
                        f"{', variable shape' if spec.type == 'tensor' else ''}) needs a "
                        "processing.pre that turns it into model inputs"
                    )
            inputs = [s.model_input for s in self.features if s.type == "tensor"]
            if any(s.is_scalar for s in self.features):
                inputs.append(self.input_name)
            if len(set(inputs)) != len(inputs):
                raise ValueError(f"two features feed one model input: {sorted(inputs)}")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def is_tensor_model(self) -> bool:
        """Some feature is a tensor, text or bytes: events decode into named arrays
        (:class:`streamapp.inputs.FeatureBatch`), not one float32 matrix."""
        return not all(f.is_scalar for f in self.features)

    @property
    def scalar_features(self) -> list[FeatureSpec]:
        """The numeric and categorical features (the feature matrix's columns)."""
        return [f for f in self.features if f.is_scalar]

    @property
    def model_input_width(self) -> int:
        """Columns the artifact takes: ``processing.input_width`` with a pre processor."""
        p = self.processing
        if p is not None and p.pre is not None and p.input_width is not None:
            return p.input_width
        return len(self.scalar_features)

    @property
    def model_output_width(self) -> int:
        """Columns the artifact returns: ``processing.output_width`` with a post processor."""
        p = self.processing
        if p is not None and p.post is not None and p.output_width is not None:
            return p.output_width
        return self.output.width

    def artifact(self, fmt: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.format == fmt), None)

    @classmethod
    def load(cls, version_dir: Path) -> Manifest:
        """Read ``manifest.json``; raises ``pydantic.ValidationError`` or ``OSError``."""
        return cls.model_validate_json((version_dir / MANIFEST_FILE).read_bytes())


class NumericProfile(_Strict):
    """Reference distribution of a numeric column (a feature or the prediction)."""

    edges: list[float]
    """Interior bin edges (k-1 for k bins); bins are (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    proportions: list[float]
    """Share of the training data in each bin (sums to 1)."""
    quantiles: list[float]
    """Values at probabilities 0.00, 0.01, ..., 1.00 (101 points)."""
    mean: float
    std: float
    min: float
    max: float
    count: int

    @model_validator(mode="after")
    def _shape(self) -> NumericProfile:
        if len(self.proportions) != len(self.edges) + 1:
            raise ValueError("proportions must have len(edges) + 1 entries")
        if not math.isclose(sum(self.proportions), 1.0, abs_tol=1e-6):
            raise ValueError("proportions must sum to 1")
        return self


class CategoricalProfile(_Strict):
    """Reference frequencies of a categorical column (category as string → share)."""

    frequencies: dict[str, float]
    count: int


class TriggerCalibration(_Strict):
    """Thresholds of one drift trigger at one window size, from a bootstrap of the reference."""

    statistic: Literal["psi"] = "psi"
    target_run_length: float = Field(gt=1)
    """Expected events between false alarms on a stationary stream (e.g. 1e6)."""
    block_alpha: float = Field(gt=0, lt=1)
    """Chance of >= 1 false alarm among the evaluations of one block of ``window`` events."""
    column_alpha: float = Field(gt=0, lt=1)
    """Per column, after the Sidak correction for the number of columns monitored."""
    thresholds: dict[str, float]
    """Column → the statistic's threshold (alarm when above)."""
    replicates: int | None = None
    """Bootstrap replicates per column (None: calibrated before this was recorded)."""


class WindowCalibration(_Strict):
    """The calibrated triggers of one drift-window size."""

    window: int = Field(ge=10)
    feature_drift: TriggerCalibration | None = None
    prediction_drift: TriggerCalibration | None = None


class DriftCalibration(_Strict):
    """Calibrated drift thresholds (``streamapp.statistics.calibration``), per window size."""

    method: str = (
        "bootstrap block-max, upper-confidence order statistic or Gumbel tail, Sidak over columns"
    )
    bootstrap: int = Field(ge=20)
    seed: int = 0
    windows: list[WindowCalibration]

    def for_window(self, window: int) -> WindowCalibration | None:
        """The largest calibrated window <= ``window`` (conservative for a larger one)."""
        fits = [w for w in self.windows if w.window <= window]
        return max(fits, key=lambda w: w.window) if fits else None


class PerformanceEstimator(_Strict):
    """Label-free performance estimation fitted at registration (``statistics.estimation``)."""

    method: Literal["cbpe", "cbpe-binned", "dle-additive"]
    samples: int = Field(ge=1)
    """Labelled reference rows it was fitted on (the validation split)."""
    confusion: list[list[float]] = Field(default_factory=list)
    """Classification: per prediction bin, the n x n (actual x predicted, row-major) shares of
    the outcomes in that bin."""
    calibrated: list[float] = Field(default_factory=list)
    """Binary (``cbpe``): isotonic-calibrated P(class 1) at the centre of each of the equal
    score bins the monitor histograms logged scores on."""
    intercept: dict[str, float] = Field(default_factory=dict)
    """Regression: ``abs`` / ``sq`` error model intercepts."""
    effects: dict[str, dict[str, list[float]]] = Field(default_factory=dict)
    """Regression: ``abs`` / ``sq`` → column (features, ``prediction``) → effect per bin."""


class ReferenceProfile(_Strict):
    """The training data's distribution: per feature, and of the model's prediction."""

    model_name: str
    model_version: str
    numeric: dict[str, NumericProfile] = Field(default_factory=dict)
    categorical: dict[str, CategoricalProfile] = Field(default_factory=dict)
    prediction: NumericProfile | CategoricalProfile
    """Score of the positive class / regression value (numeric) or predicted class (categorical)."""
    calibration: DriftCalibration | None = None
    """Calibrated drift-trigger thresholds (written at registration; None: fixed thresholds)."""
    estimator: PerformanceEstimator | None = None
    """Label-free performance estimation (written at registration with labels; None: none)."""

    @classmethod
    def load(cls, version_dir: Path) -> ReferenceProfile:
        """Read ``profile.json``; raises ``pydantic.ValidationError`` or ``OSError``."""
        return cls.model_validate_json((version_dir / PROFILE_FILE).read_bytes())
