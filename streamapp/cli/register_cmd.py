"""``streamapp models register``: a new, validated model version from a file and reference data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from streamapp.cli.app import fail, settings
from streamapp.cli.models_cmd import RegistryOpt, models_app
from streamapp.cli.register_schema import SchemaReference, schema_reference
from streamapp.registry.manifest import FeatureSpec
from streamapp.registry.registry import verified_profile


@models_app.command("register")
def register_cmd(
    ctx: typer.Context,
    model: Annotated[
        Path,
        typer.Argument(metavar="MODEL_FILE",
                       help="Model file: .onnx, .pt (TorchScript), or .pkl / .joblib."),
    ],
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="Model name in the registry.")
    ],
    data: Annotated[
        Path,
        typer.Option("--data", metavar="FILE",
                     help="Reference data: CSV or Parquet with the features; for tensor, text "
                     "and image models also .npz (one key per feature), .npy (one tensor "
                     "feature, named after the file), JSONL (one features object per line) or "
                     "Parquet with list / binary columns."),
    ],
    label: Annotated[
        str | None,
        typer.Option("--label", metavar="COLUMN",
                     help="Label column in --data (enables baseline metrics)."),
    ] = None,
    holdout: Annotated[
        Path | None,
        typer.Option("--holdout", metavar="FILE",
                     help="Rows the model was not fitted on, same columns as --data (the label "
                     "too): baseline metrics, estimator and drift profile come from them."),
    ] = None,
    task: Annotated[
        str,
        typer.Option("--task", metavar="TASK",
                     help="auto, classification or regression (auto needs a source model)."),
    ] = "auto",
    categorical: Annotated[
        list[str] | None,
        typer.Option("--categorical", metavar="COLUMN",
                     help="Treat this numeric column as categorical (repeat)."),
    ] = None,
    feature_range: Annotated[
        list[str] | None,
        typer.Option("--range", metavar="NAME=MIN:MAX",
                     help="Allowed range of a numeric feature (repeat; MIN or MAX may be empty)."),
    ] = None,
    no_ranges: Annotated[
        bool, typer.Option("--no-ranges", help="Leave inferred numeric features unbounded.")
    ] = False,
    classes: Annotated[
        str | None,
        typer.Option("--classes", metavar="A,B,...",
                     help="Comma-separated classes in output column order."),
    ] = None,
    pre: Annotated[
        str | None,
        typer.Option("--pre", metavar="MODULE:FUNCTION",
                     help="Pre processor the model was trained behind, by import path."),
    ] = None,
    pre_option: Annotated[
        list[str] | None,
        typer.Option("--pre-option", metavar="KEY=JSON",
                     help="processing.options entry for a pre processor built from_context "
                     "(repeat), e.g. --pre-option 'size=[28, 28]'."),
    ] = None,
    file: Annotated[
        list[str] | None,
        typer.Option("--file", metavar="FORMAT=PATH",
                     help="A file the pre processor reads, copied into the version as a "
                     "checksummed artifact of FORMAT (repeat), e.g. --file "
                     "tokenizer=tokenizer.json."),
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", metavar="JSON",
                     help="A feature spec replacing the inferred one (repeat), e.g. "
                     "--feature '{\"name\": \"review\", \"type\": \"text\", "
                     "\"max_length\": 4000}'."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", metavar="NAME|INDEX",
                     help="Which of a tensor model's outputs is the prediction: an ONNX output "
                     "or dict key by name, a position by number."),
    ] = None,
    trainer: Annotated[
        str | None,
        typer.Option("--trainer", metavar="MODULE:FUNCTION",
                     help="Trainer import path for `streamapp retrain`."),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option("--tolerance", metavar="FLOAT",
                     help="Max |artifact - source model| on the reference rows."),
    ] = 1e-4,
    promote: Annotated[
        str,
        typer.Option("--promote", metavar="POINTER",
                     help="Pointer to move: auto (production if none yet), production, "
                     "candidate or none."),
    ] = "auto",
    allow_pickle_code_execution: Annotated[
        bool,
        typer.Option("--allow-pickle-code-execution",
                     help="Load a .pkl / .joblib model: this EXECUTES code from the file. "
                     "Only for files you trust."),
    ] = False,
    drift_target: Annotated[
        float,
        typer.Option("--drift-target", metavar="EVENTS",
                     help="Calibrated drift triggers: stationary events per false alarm "
                     "(0: no calibration, fixed policy thresholds)."),
    ] = 1e6,
    drift_window: Annotated[
        list[int] | None,
        typer.Option("--drift-window", metavar="EVENTS",
                     help="Drift window to calibrate for (repeat; default: "
                     "monitoring.drift_window's default)."),
    ] = None,
    drift_bootstrap: Annotated[
        int,
        typer.Option("--drift-bootstrap", metavar="N",
                     help="Bootstrap replicates of the drift calibration."),
    ] = 200,
    schema: Annotated[
        str | None,
        typer.Option("--schema", metavar="SUBJECT",
                     help="Registered Avro or JSON Schema subject (latest version, through "
                     "schema_registry settings) whose scalar fields are the features, in "
                     "schema order; --data must hold a column for each."),
    ] = None,
    registry: RegistryOpt = None,
) -> None:
    """Create the next version of NAME: convert, profile, checksum, validate, print what it wrote.

    scikit-learn, LightGBM and XGBoost models are converted to ONNX, which needs the
    register extra: pip install 'streamapp\\[register]'. Which model families register
    as they are, and what to do for the rest: docs/models.md (Model families).
    """
    from streamapp.registration import RegistrationError, register
    from streamapp.statistics.calibration import DEFAULT_WINDOWS, describe

    root = registry or settings(ctx).model.registry
    reference: Any = data
    from_schema = SchemaReference(data)
    if schema is not None:
        from_schema = schema_reference(settings(ctx), schema, data, label)
        reference = from_schema.frame
    try:
        result = register(
            model,
            reference,
            label,
            name=name,
            registry=root,
            task=task,
            features=[*from_schema.features,
                      *(_range(spec) for spec in feature_range or []),
                      *(_feature(text) for text in feature or [])],
            categorical=[*(categorical or []), *from_schema.categorical],
            range_margin=None if no_ranges else 1.0,
            classes=[c.strip() for c in classes.split(",")] if classes else None,
            pre=pre,
            trainer=trainer,
            tolerance=tolerance,
            allow_pickle=allow_pickle_code_execution,
            promote=None if promote == "none" else promote,
            drift_target=drift_target or None,
            drift_windows=drift_window or DEFAULT_WINDOWS,
            drift_bootstrap=drift_bootstrap,
            holdout=holdout,
            output=int(output) if output is not None and output.isdigit() else output,
            pre_options=dict(_pair(text, "--pre-option KEY=JSON", json=True)
                             for text in pre_option or []),
            files=dict(_pair(text, "--file FORMAT=PATH") for text in file or []),
        )
    except (RegistrationError, ImportError, OSError) as exc:
        raise fail(f"not registered: {exc}") from None
    except Exception as exc:  # a load / validation error: the staged version was removed
        raise fail(f"not registered: {type(exc).__name__}: {exc}") from None
    mv, manifest = result.version, result.version.manifest
    typer.echo(f"registered {mv.name}/{mv.version} ({manifest.task.value}) in {mv.path}")
    for path in result.files:
        typer.echo(f"  wrote {path.name:<14} {path.stat().st_size:>10} bytes")
    for a in manifest.artifacts:
        typer.echo(f"  artifact {a.path} ({a.format}) sha256 {a.sha256}")
    kinds = ", ".join(f"{f.name}:{f.type}" for f in manifest.features)
    typer.echo(f"  features ({len(manifest.features)}): {kinds}")
    if manifest.processing is not None:
        options = manifest.processing.options
        typer.echo(f"  pre processor: {manifest.processing.pre}"
                   + (f" options {options}" if options else ""))
    metrics = " ".join(f"{k}={v:.4g}" for k, v in manifest.baseline_metrics.items())
    typer.echo(f"  baseline: {metrics or '(no labels given)'}")
    typer.echo(f"  drift calibration: {describe(verified_profile(mv).calibration)}")
    if result.max_abs_diff is None:
        typer.echo("  validated: loads, shapes, conformance (no source model to compare with)")
    else:
        typer.echo(
            f"  validated: max |artifact - source| = {result.max_abs_diff:.3g} "
            f"(tolerance {result.tolerance:g})"
        )
    typer.echo(f"  trainer: {manifest.trainer or 'streamapp default'}")
    typer.echo(f"  pointer: {result.promoted or 'not moved'}; took {result.seconds:.1f}s")


def _pair(text: str, form: str, json: bool = False) -> tuple[str, Any]:
    """``KEY=VALUE`` → ``(KEY, VALUE)`` (VALUE parsed as JSON when ``json``)."""
    import json as json_module

    key, sep, value = text.partition("=")
    if not (sep and key):
        raise typer.BadParameter(f"{text!r}: write {form}")
    if not json:
        return key, value
    try:
        return key, json_module.loads(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: the value is not JSON ({exc})") from None


def _feature(text: str) -> FeatureSpec:
    """A ``--feature`` JSON object → its spec."""
    try:
        return FeatureSpec.model_validate_json(text)
    except ValueError as exc:
        raise typer.BadParameter(f"--feature {text!r}: {exc}") from None


def _range(text: str) -> FeatureSpec:
    """``NAME=MIN:MAX`` → a numeric feature spec (empty MIN or MAX: unbounded on that side)."""
    name, sep, bounds = text.partition("=")
    lo, sep2, hi = bounds.partition(":")
    if not (sep and sep2 and name):
        raise typer.BadParameter(f"{text!r}: write --range NAME=MIN:MAX")
    try:
        return FeatureSpec(
            name=name, type="numeric", min=float(lo) if lo else None, max=float(hi) if hi else None
        )
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: {exc}") from None
