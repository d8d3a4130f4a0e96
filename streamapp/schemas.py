"""Wire contracts: every record streamapp reads or writes on Kafka.

These pydantic models are the source of truth; ``streamapp schemas export``
writes their JSON Schema to ``schemas/`` so producers in any language can
validate, and a test fails when the committed files drift from the models.
All timestamps are timezone-aware (RFC 3339 with offset).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EventId = Annotated[str, Field(min_length=1, max_length=256, description="Unique event id.")]
FeatureValue = float | int | str | bool | None
InputValue = FeatureValue | list[Any]
"""An event's feature: a scalar, a tensor as nested arrays, or base64/text as a string."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(_Wire):
    """An input event, produced by users to the events topic (key = event id)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Event")

    event_id: EventId
    event_time: AwareDatetime = Field(description="When the event happened.")
    key: str | None = Field(default=None, description="Optional entity or segment key.")
    model: str | None = Field(
        default=None, description="Model to score with; default: the worker's configured model."
    )
    features: dict[str, InputValue] = Field(
        description="Feature name → value: a number, category, text, base64 bytes, or a "
        "tensor as nested arrays (or base64 of its little-endian bytes)."
    )


class Variant(StrEnum):
    """Which version produced a prediction."""

    PRIMARY = "primary"
    CANARY = "canary"
    SHADOW = "shadow"


class Prediction(_Wire):
    """A model's output for one event (predictions topic, key = event id)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Prediction")

    event_id: EventId
    model_name: str
    model_version: str
    variant: Variant = Variant.PRIMARY
    scores: list[float] | None = Field(
        default=None, description="Class probabilities in manifest class order (classification)."
    )
    predicted_label: int | str | None = Field(default=None, description="Argmax class.")
    predicted_value: float | None = Field(default=None, description="Regression output.")
    holdout: bool = Field(default=False, description="Event is in the unbiased holdout share.")
    event_time: AwareDatetime
    scored_time: AwareDatetime


class LoggedPrediction(Prediction):
    """A sampled prediction with its features (prediction-log topic), kept for the label join."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="LoggedPrediction")

    features: dict[str, FeatureValue] = Field(
        description="The scalar features; a tensor model's sketches of its tensor, text and "
        "bytes features (streamapp.inputs.sketch)."
    )
    inputs: dict[str, InputValue] | None = Field(
        default=None, description="A tensor model's raw features, with sampling.log_inputs."
    )


class Label(_Wire):
    """Ground truth for an event (labels topic, key = event id)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Label")

    event_id: EventId
    label: int | float | str | bool = Field(description="True class or value.")
    label_time: AwareDatetime = Field(description="When the truth became known.")
    model_name: str | None = Field(default=None, description="Optional: model the label is for.")


class JoinedOutcome(_Wire):
    """A logged prediction joined with its label (joined-outcomes topic): fresh training data."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="JoinedOutcome")

    event_id: EventId
    model_name: str
    model_version: str
    variant: Variant
    holdout: bool
    features: dict[str, FeatureValue]
    scores: list[float] | None = None
    predicted_label: int | str | None = None
    predicted_value: float | None = None
    label: int | float | str | bool
    event_time: AwareDatetime
    scored_time: AwareDatetime
    label_time: AwareDatetime
    label_lag_s: float = Field(description="label_time - event_time, seconds.")
    joined_at: AwareDatetime


class DeadLetterReason(StrEnum):
    """Machine-readable reason an input record was rejected."""

    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    SCHEMA_VIOLATION = "schema_violation"
    MISSING_FEATURE = "missing_feature"
    UNKNOWN_FEATURE = "unknown_feature"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_CATEGORY = "unknown_category"
    NON_FINITE = "non_finite"
    TOO_LARGE = "too_large"
    WRONG_SHAPE = "wrong_shape"
    """A tensor's nesting or size differs from the manifest's shape."""
    WRONG_DTYPE = "wrong_dtype"
    """A tensor element is not of the manifest's dtype (e.g. 1.5 for an int64 tensor)."""
    INVALID_BASE64 = "invalid_base64"
    """A base64 value (binary tensor or bytes feature) does not decode."""
    TEXT_TOO_LONG = "text_too_long"
    UNDECODABLE_IMAGE = "undecodable_image"
    UNKNOWN_MODEL = "unknown_model"
    MODEL_ERROR = "model_error"
    NOT_WIRE_FORMAT = "not_wire_format"
    """A registry-format topic's value lacks the magic byte 0 and 4-byte schema id."""
    UNKNOWN_SCHEMA = "unknown_schema"
    """The value's schema id is not in the Schema Registry."""
    UNDECODABLE_PAYLOAD = "undecodable_payload"
    """The payload does not decode with its (known) writer schema."""
    SCHEMA_MISMATCH = "schema_mismatch"
    """The writer schema is of another format, cannot be read as the reader schema, or the
    record breaks its JSON Schema."""


class DeadLetter(_Wire):
    """A rejected input record with why and where it came from (dead-letter topic)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="DeadLetter")

    reason: DeadLetterReason
    detail: str = Field(description="Human-readable explanation.")
    source_topic: str
    source_partition: int
    source_offset: int
    original_b64: str = Field(description="The original record value, base64.")
    original_key_b64: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    failed_at: AwareDatetime


class RetrainReason(StrEnum):
    """Which policy fired."""

    ACCURACY_DROP = "accuracy_drop"
    FEATURE_DRIFT = "feature_drift"
    PREDICTION_DRIFT = "prediction_drift"
    DETECTOR_ALARM = "detector_alarm"


class RetrainRequest(_Wire):
    """One request per incident to retrain a model (retrain-requests topic)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="RetrainRequest")

    model_name: str
    model_version: str
    reason: RetrainReason
    metric: str = Field(description="Metric that crossed the policy, e.g. accuracy or psi.")
    observed: float
    threshold: float
    window: str = Field(description="Window the metric was computed over, e.g. count:2000.")
    affected_features: list[str] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(description="Stable per incident; consumers deduplicate on it.")
    requested_at: AwareDatetime


class Decision(StrEnum):
    """What a canary / shadow verdict says to do with the candidate."""

    PROMOTE = "promote"
    ROLL_BACK = "roll_back"
    KEEP_COLLECTING = "keep_collecting"


class PromotionDecision(_Wire):
    """A candidate-vs-primary verdict on joined labels (promotion-decisions topic, key = model).

    One record per change of a candidate's decision, not per window.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, title="PromotionDecision")

    model_name: str
    candidate_version: str
    primary_version: str
    mode: Variant = Field(description="canary (matched buckets) or shadow (paired per event).")
    decision: Decision
    metric: str = Field(description="accuracy (classification) or mae (regression).")
    test: str = Field(
        description="mcnemar_exact, mcnemar_chi2, paired_bootstrap, z_test, fisher_exact, "
        "welch_t."
    )
    effect: float = Field(
        description="Candidate minus primary accuracy, or primary minus candidate MAE: "
        "positive when the candidate is better."
    )
    ci_lower: float | None = Field(description="None while the interval is unbounded.")
    ci_upper: float | None = Field(description="None while the interval is unbounded.")
    confidence: float = Field(description="Confidence level of [ci_lower, ci_upper].")
    p_value: float = Field(description="Two-sided p-value of 'no difference'.")
    alpha: float = Field(description="Level of the look that decided (overall alpha / looks).")
    samples: int = Field(description="Pairs (shadow) or candidate outcomes (canary).")
    primary_samples: int = Field(description="Primary outcomes compared (= samples for shadow).")
    look: int = Field(description="Look number (0-based); looks are at min_samples * 2**look.")
    idempotency_key: str = Field(description="model/candidate/primary/mode/decision.")
    decided_at: AwareDatetime


WIRE_MODELS: tuple[type[BaseModel], ...] = (
    Event,
    Prediction,
    LoggedPrediction,
    Label,
    JoinedOutcome,
    DeadLetter,
    RetrainRequest,
    PromotionDecision,
)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every wire model, keyed by file name (``<title>.schema.json``)."""
    out: dict[str, dict[str, Any]] = {}
    for model in WIRE_MODELS:
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[f"{model.__name__}.schema.json"] = schema
    return out
