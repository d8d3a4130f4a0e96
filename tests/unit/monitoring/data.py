"""Synthetic logged predictions, labels and summaries for the demo models (monitor tests)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np

from streamapp.features import FeatureEncoder
from streamapp.monitoring.dataplane.fold import Folder
from streamapp.monitoring.dataplane.records import (
    LabelRecord,
    LoggedRecord,
    decode_label,
    decode_prediction,
    encode,
)
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.registry.manifest import Manifest, NumericProfile, ReferenceProfile
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import Label, LoggedPrediction, Variant
from streamapp.statistics.summary import Summary
from tests.conftest import MODELS

START = datetime(2026, 1, 1, tzinfo=UTC)
T0 = START.timestamp()
TTL = 60.0
"""The join tests' label TTL (seconds)."""
R = TypeVar("R")


def with_raw(items: list[R]) -> list[tuple[R, bytes]]:
    """Records with their wire bytes, as the data plane hands them to ``join_batch``."""
    return [(r, encode(r)) for r in items]


def reference_rows(model: str = "agrawal-clf", version: str = "1") -> list[dict[str, object]]:
    """The committed reference rows of a demo model, decoded to feature dicts."""
    path = MODELS / model / version
    manifest = Manifest.load(path)
    encoder = FeatureEncoder(manifest.features)
    return [encoder.decode(row) for row in np.load(path / "reference.npy")]


def predictions(
    n: int,
    seed: int = 0,
    prefix: str = "e",
    shift: dict[str, float] | None = None,
    model: str = "agrawal-clf",
) -> list[LoggedPrediction]:
    """``n`` logged predictions on reference rows (numeric features optionally scaled)."""
    rng = np.random.default_rng(seed)
    rows = reference_rows(model)
    profile = ReferenceProfile.load(MODELS / model / "1")
    assert isinstance(profile.prediction, NumericProfile)
    grid, quantiles = np.linspace(0, 1, 101), profile.prediction.quantiles
    out = []
    for i in range(n):
        features = dict(rows[(i * 7 + seed) % len(rows)])
        for name, factor in (shift or {}).items():
            features[name] = float(features[name]) * factor  # type: ignore[arg-type]
        t = START + timedelta(seconds=i)
        if model == "agrawal-clf":
            p1 = float(np.interp(rng.uniform(), grid, quantiles))  # reference score distribution
            extra: dict[str, object] = {"scores": [1 - p1, p1], "predicted_label": int(p1 > 0.5)}
        else:
            extra = {"predicted_value": float(np.interp(rng.uniform(), grid, quantiles))}
        out.append(
            LoggedPrediction(
                event_id=f"{prefix}-{i}",
                model_name=model,
                model_version="1",
                variant=Variant.PRIMARY if i % 5 else Variant.CANARY,
                holdout=i % 10 == 3,
                event_time=t,
                scored_time=t + timedelta(milliseconds=5),
                features=features,  # type: ignore[arg-type]
                **extra,  # type: ignore[arg-type]
            )
        )
    return out


def labels_for(preds: list[LoggedPrediction], correct: float, seed: int = 1) -> list[Label]:
    """Labels agreeing with the prediction with probability ``correct`` (classification)."""
    rng = np.random.default_rng(seed)
    out = []
    for p in preds:
        if p.predicted_value is not None:
            value: int | float = p.predicted_value + float(rng.normal(0, 1))
        else:
            assert isinstance(p.predicted_label, int)
            value = p.predicted_label if rng.uniform() < correct else 1 - p.predicted_label
        out.append(
            Label(event_id=p.event_id, label=value, label_time=p.event_time + timedelta(minutes=1))
        )
    return out


def records(
    preds: list[LoggedPrediction], labels: list[Label]
) -> tuple[list[LoggedRecord], list[LabelRecord]]:
    """The wire records as the data plane decodes them."""
    return (
        [decode_prediction(p.model_dump_json().encode()) for p in preds],
        [decode_label(lab.model_dump_json().encode()) for lab in labels],
    )


def summaries_for(
    preds: list[LoggedPrediction],
    labels: list[Label],
    partitions: int = 1,
    chunk: int = 50,
    bucket_s: float = 10.0,
) -> list[Summary]:
    """Fold predictions and their labels as ``partitions`` join partitions would, in chunks."""
    folder = Folder(SpecCache(ModelRegistry(MODELS)), bucket_s)
    p_recs, l_recs = records(preds, labels)
    out: list[Summary] = []
    for part in range(partitions):
        mine = [i for i in range(len(p_recs)) if i % partitions == part]
        for seq, start in enumerate(range(0, len(mine), chunk), start=1):
            idx = mine[start : start + chunk]
            logged = [p_recs[i] for i in idx]
            joined = [(p_recs[i], l_recs[i]) for i in idx if i < len(l_recs)]
            out.extend(folder.fold(part, seq, logged, joined, []))
    return out


def add_candidate(registry: Path, model: str = "agrawal-clf", version: str = "2") -> Path:
    """Copy version 1 of ``model`` in ``registry`` (a writable copy) as ``version``."""
    src, dst = registry / model / "1", registry / model / version
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text(encoding="utf-8"))
    manifest["version"] = version
    (dst / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return dst


def shadow_events(
    n: int, primary: float, candidate: float, seed: int = 0, model: str = "agrawal-clf",
    candidate_version: str = "2", variant: Variant = Variant.SHADOW, prefix: str = "s",
) -> tuple[list[LoggedPrediction], list[LoggedPrediction], list[Label]]:
    """Primary and candidate predictions of the same ``n`` events, and their labels.

    Classification: each version is right with probability ``primary`` / ``candidate``,
    their errors correlated (70 % shared randomness). Regression: errors are normal with
    standard deviation ``primary`` / ``candidate``.
    """
    rng = np.random.default_rng(seed)
    base = predictions(n, seed=seed, prefix=prefix, model=model)
    prim_out, cand_out, labels = [], [], []
    for p in base:
        shared = rng.uniform()
        u_p = shared if rng.uniform() < 0.7 else rng.uniform()
        u_c = shared if rng.uniform() < 0.7 else rng.uniform()
        if model == "agrawal-clf":
            y = int(rng.uniform() < 0.5)
            value: int | float = y
            preds = [y if u_p < primary else 1 - y, y if u_c < candidate else 1 - y]
            extras = [{"predicted_label": k, "scores": [0.2, 0.8] if k else [0.8, 0.2]}
                      for k in preds]
        else:
            value = float(rng.normal(10, 3))
            z = float(rng.normal())
            extras = [{"predicted_value": value + z * primary},
                      {"predicted_value": value + float(rng.normal()) * candidate}]
        common = {"variant": Variant.PRIMARY, "holdout": False}
        prim_out.append(p.model_copy(update={**common, **extras[0]}))
        cand_out.append(p.model_copy(update={**common, **extras[1], "variant": variant,
                                             "model_version": candidate_version}))
        labels.append(Label(event_id=p.event_id, label=value,
                            label_time=p.event_time + timedelta(minutes=1)))
    return prim_out, cand_out, labels
