"""The tensor pre processor check of ``streamapp.testing`` on the built-in processors and on
processors that break the contract."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from streamapp.inputs import FeatureBatch
from streamapp.preprocess.image import DecodeImages
from streamapp.preprocess.text import Tokenize, train_tokenizer
from streamapp.processing import Bucket
from streamapp.registry.manifest import FeatureSpec, Manifest
from streamapp.testing import ConformanceError, check_tensor_processor


def _manifest(spec: FeatureSpec) -> Manifest:
    return Manifest(
        name="m", version="1", task="binary_classification", features=[spec],
        output={"classes": [0, 1]}, processing={"pre": "streamapp.preprocess.text:Tokenize"},
        artifacts=[{"format": "onnx", "path": "m.onnx", "sha256": "0" * 64}],
        created_at=datetime.now(UTC),
    )


TEXTS = ["the cat sat", "a much longer sentence about the weather in the hills today", "",
         "dogs bark", "the weather is fine"]


def test_the_tokenizer_passes(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    path = train_tokenizer(TEXTS * 20, tmp_path / "tokenizer.json", vocab_size=200)
    pre = Tokenize(Tokenizer.from_file(str(path)), "text", max_tokens=32)
    manifest = _manifest(FeatureSpec(name="text", type="text"))
    buckets = check_tensor_processor(pre, manifest, FeatureBatch(
        np.zeros((5, 0), np.float32), {"text": TEXTS}))
    assert sorted(np.concatenate([b.rows for b in buckets]).tolist()) == list(range(5))


def test_the_image_decoder_passes() -> None:
    def png(v: int) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (12, 9), (v, v, v)).save(out, "PNG")
        return out.getvalue()

    manifest = _manifest(FeatureSpec(name="img", type="bytes", media="image"))
    batch = FeatureBatch(np.zeros((3, 0), np.float32), {"img": [png(0), png(128), png(255)]})
    (bucket,) = check_tensor_processor(DecodeImages("img", [8, 8]), manifest, batch)
    assert bucket.inputs["input"].shape == (3, 3, 8, 8)


def test_broken_processors_are_named() -> None:
    manifest = _manifest(FeatureSpec(name="text", type="text"))
    batch = FeatureBatch(np.zeros((3, 0), np.float32), {"text": ["a", "b", "c"]})

    def drops_a_row(columns: Any) -> list[Bucket]:
        return [Bucket(np.array([0, 1]), {"ids": np.zeros((2, 4), np.int64)})]

    def neighbours(columns: Any) -> dict[str, np.ndarray]:
        n = len(columns["text"])
        return {"ids": np.full((n, 4), n, np.int64)}

    def mutates(columns: Any) -> dict[str, np.ndarray]:
        columns["text"][0] = "changed"
        return {"ids": np.zeros((len(columns["text"]), 4), np.int64)}

    with pytest.raises(ConformanceError, match="exactly once"):
        check_tensor_processor(drops_a_row, manifest, batch)
    with pytest.raises(ConformanceError, match="depends on the other rows"):
        check_tensor_processor(neighbours, manifest, batch)
    with pytest.raises(ConformanceError, match="modified its input"):
        check_tensor_processor(mutates, manifest, batch)
