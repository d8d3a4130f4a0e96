"""``streamapp models``: list, validate, promote, and train the demo models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from streamapp.cli.app import EXIT_CONFIG, app, console, fail, settings, warn
from streamapp.cli.output import JsonOpt, emit
from streamapp.registry.registry import (
    POINTER_NAMES,
    ModelRegistry,
    RegistryError,
    verified_profile,
)
from streamapp.runtime.base import ModelLoadError

models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
app.add_typer(models_app, name="models")

RegistryOpt = Annotated[
    Path | None, typer.Option("--registry", help="Registry root (default: model.registry).")
]


def _registry(ctx: typer.Context, root: Path | None, must_exist: bool = True) -> ModelRegistry:
    """The registry of ``--registry`` or ``model.registry``; unless ``must_exist`` is off, a
    root that is not a directory exits 2 naming the setting (a typo is not an empty list)."""
    configured = settings(ctx).model.registry  # also sets up logging: errors are JSON there
    path = root or configured
    if must_exist and not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        where = "--registry" if root else "model.registry (STREAMAPP_MODEL__REGISTRY)"
        raise fail(
            f"model registry {path} {what}; set {where} to the registry root "
            "(one folder per model; `streamapp models train-demo` or `streamapp register` "
            "creates one)",
            EXIT_CONFIG,
        )
    return ModelRegistry(path)


@models_app.command("list")
def list_models(ctx: typer.Context, registry: RegistryOpt = None, as_json: JsonOpt = False) -> None:
    """Every model and version in the registry, with task, artifacts, pointers, baseline and
    drift calibration.

    This reads the registry's files; ``streamapp status`` shows what workers serve.
    """
    from streamapp.statistics.calibration import describe

    reg = _registry(ctx, registry)
    rows: list[dict[str, Any]] = []
    for name in reg.models():
        pointers = {p: reg.pointer(name, p) for p in POINTER_NAMES}
        for version in reg.versions(name):
            row: dict[str, Any] = {"model": name, "version": version,
                                   "pointers": [p for p, v in pointers.items() if v == version]}
            try:
                mv = reg.get(name, version)
                manifest = mv.manifest
                calibration = describe(verified_profile(mv).calibration)
            except RegistryError as exc:
                rows.append({**row, "task": "invalid", "error": str(exc)})
                continue
            rows.append({**row, "task": manifest.task.value,
                         "artifacts": [a.format for a in manifest.artifacts],
                         "baseline": manifest.baseline_metrics, "calibration": calibration})
    columns = ("model", "version", "task", "artifacts", "pointers", "baseline", "calibration",
               "error")
    emit(rows, columns, as_json)


@models_app.command("validate")
def validate(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Model (default: all).")] = None,
    version: Annotated[str | None, typer.Argument(help="Version (default: all).")] = None,
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load each artifact (checksum verified) and its processors, check the profile, and run
    the conformance checks (``streamapp.runtime.checks``) on reference rows.

    One line per artifact as it is checked; ``--json`` prints them at the end as a list of
    ``{model, version, runtime, device, status, error}`` (``status``: ok or invalid). Exit
    code 1 when any is invalid, in both forms."""
    from streamapp.runtime.catalog import runtime_catalog
    from streamapp.runtime.checks import ConformanceError, check_scoring_model
    from streamapp.runtime.loader import load_model, reference_rows

    reg = _registry(ctx, registry)
    cfg = settings(ctx).model
    runtimes = runtime_catalog(cfg)
    names = [name] if name else reg.models()
    if not names:
        raise fail(f"no models under {reg.root}")
    rows: list[dict[str, Any]] = []

    def report(row: dict[str, Any]) -> None:
        rows.append(row)
        if as_json:
            return
        what = f"{row['model']}/{row['version']}"
        if row["status"] == "ok":
            typer.echo(f"ok      {what} {row['runtime']} on {row['device']}")
        else:
            typer.echo(f"INVALID {what}: {row['error']}")

    for model in names:
        versions = [version] if version else reg.versions(model)
        if not versions:
            raise fail(f"model {model!r} has no versions under {reg.root}")
        for ver in versions:
            runtime: str | None = None
            try:
                mv = reg.get(model, ver)
                verified_profile(mv)
                for artifact in mv.manifest.artifacts:
                    entry = runtimes.for_format(artifact.format)
                    if entry is None:
                        raise ModelLoadError(
                            f"{model}/{ver}: no runtime loads format {artifact.format!r} "
                            f"(known: {runtimes.names}; add one under model.runtimes)"
                        )
                    runtime = entry.name
                    loaded = load_model(mv, runtime, cfg.device, runtimes=runtimes)
                    check_scoring_model(loaded, reference_rows(mv))
                    report({"model": model, "version": ver, "runtime": runtime,
                            "device": loaded.device, "status": "ok", "error": None})
            except (RegistryError, ModelLoadError, ConformanceError) as exc:
                report({"model": model, "version": ver, "runtime": runtime, "device": None,
                        "status": "invalid", "error": str(exc)})
    if as_json:
        columns = ("model", "version", "runtime", "device", "status", "error")
        emit(rows, columns, as_json=True)
    if any(row["status"] != "ok" for row in rows):
        raise typer.Exit(1)


@models_app.command("promote")
def promote(
    ctx: typer.Context,
    name: str,
    version: str,
    pointer: Annotated[str, typer.Option(help="Pointer to move.")] = "production",
    registry: RegistryOpt = None,
) -> None:
    """Point ``pointer`` at a version atomically; running workers pick it up without restart."""
    from streamapp.runtime.catalog import runtime_catalog
    from streamapp.runtime.loader import load_model

    reg = _registry(ctx, registry)
    cfg = settings(ctx)
    try:
        mv = reg.get(name, version)
        verified_profile(mv)
        load_model(mv, "auto", "cpu", runtimes=runtime_catalog(cfg.model))
        reg.promote(name, version, pointer)
    except (RegistryError, ModelLoadError) as exc:
        raise fail(f"not promoted: {exc}") from None
    typer.echo(f"{name} {pointer} -> {version}")
    if pointer == cfg.model.candidate_pointer and cfg.sampling.candidate_mode == "off":
        warn(
            f"sampling.candidate_mode is off, so scoring workers with this configuration give "
            f"the candidate {name}/{version} no traffic; set "
            "STREAMAPP_SAMPLING__CANDIDATE_MODE=canary (it serves sampling.canary_share of "
            "events) or shadow (it scores and logs, never publishes) on the scoring workers"
        )


@models_app.command("calibrate")
def calibrate_cmd(
    ctx: typer.Context,
    name: str,
    version: str,
    drift_target: Annotated[
        float, typer.Option(help="Stationary events per false alarm of each drift trigger.")
    ] = 1e6,
    drift_window: Annotated[
        list[int] | None,
        typer.Option(help="Drift window (events) to calibrate for (repeat; default: "
                     "monitoring.drift_window)."),
    ] = None,
    drift_bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 200,
    registry: RegistryOpt = None,
) -> None:
    """(Re)compute the drift calibration of an existing version from its profile and write it
    into ``profile.json`` atomically (the model, manifest and reference rows are untouched);
    monitors pick it up when they next load the version."""
    import json
    import os

    from streamapp.registry.manifest import PROFILE_FILE
    from streamapp.statistics.calibration import describe, with_calibration

    reg = _registry(ctx, registry)
    try:
        mv = reg.get(name, version)
        profile = verified_profile(mv)
    except RegistryError as exc:
        raise fail(f"not calibrated: {exc}") from None
    windows = drift_window or [settings(ctx).monitoring.drift_window]
    updated = with_calibration(profile, drift_target, windows, drift_bootstrap)
    tmp = mv.path / f".{PROFILE_FILE}.tmp"
    tmp.write_text(json.dumps(updated.model_dump(mode="json"), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, mv.path / PROFILE_FILE)
    typer.echo(f"{name}/{version} drift calibration: {describe(updated.calibration)}")


@models_app.command("train-demo")
def train_demo(
    ctx: typer.Context,
    registry: RegistryOpt = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 7,
    force: Annotated[bool, typer.Option(help="Retrain even if version 1 exists.")] = False,
) -> None:
    """Train the demo models (Agrawal classifier, Friedman regressor) as version 1."""
    import shutil

    from streamapp.training.demo import train_demo_models
    from streamapp.training.synthetic import AGRAWAL_MODEL, FRIEDMAN_MODEL

    reg = _registry(ctx, registry, must_exist=False)
    if all(reg.versions(m) for m in (AGRAWAL_MODEL, FRIEDMAN_MODEL)) and not force:
        typer.echo(f"demo models already in {reg.root} (use --force to retrain)")
        return
    for m in (AGRAWAL_MODEL, FRIEDMAN_MODEL):
        shutil.rmtree(reg.root / m, ignore_errors=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def status(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(f"training {name}", total=total)
            progress.update(tasks[name], completed=done)

        versions = train_demo_models(reg, seed=seed, status=status)
    for mv in versions:
        typer.echo(f"trained {mv.name}/{mv.version} {mv.manifest.baseline_metrics}")
