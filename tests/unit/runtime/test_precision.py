"""Reduced precision: served only within tolerance of fp32 on the reference rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamapp.inputs import FeatureBatch
from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.base import ModelLoadError
from streamapp.runtime.loader import load_model
from tests.tensor_models import NAME, sample, write_version


@pytest.fixture
def version(tmp_path: Path):  # type: ignore[no-untyped-def]
    write_version(tmp_path)
    return ModelRegistry(tmp_path).resolve(NAME)


def test_bf16_serves_within_tolerance_of_fp32(version) -> None:  # type: ignore[no-untyped-def]
    full = load_model(version, "torch", "cpu")
    half = load_model(version, "torch", "cpu", precision="bf16", tolerance=0.02)
    assert half.precision == "bf16"  # type: ignore[attr-defined]
    pixels, age = sample(64, 8)
    rows = FeatureBatch(age.reshape(-1, 1), {"pixels": pixels})
    a, b = full.score(rows), half.score(rows)
    assert b.dtype == np.float32 and 0 < np.abs(a - b).max() <= 0.02
    assert (a.argmax(axis=1) == b.argmax(axis=1)).mean() > 0.9


def test_a_version_beyond_tolerance_is_refused(version) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelLoadError, match="bf16 outputs differ from fp32 by up to"):
        load_model(version, "torch", "cpu", precision="bf16", tolerance=1e-7)


def test_fp16_needs_cuda_and_onnx_has_no_precision(version) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelLoadError, match="fp16 needs CUDA"):
        load_model(version, "torch", "cpu", precision="fp16")
    with pytest.raises(ModelLoadError, match="runtime onnx has no precision bf16"):
        load_model(version, "onnx", "cpu", precision="bf16")
