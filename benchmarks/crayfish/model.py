"""The Crayfish workloads: each model as a registry version, and its events.

- the feed-forward net (below);
- a ResNet-50 (``benchmarks.gpu.models.resnet50``, ONNX) behind ``DecodeImages`` on PNG
  ``bytes`` (:func:`write_cnn_version`, :func:`png_images`);
- the transformer text classifier of ``benchmarks.gpu.models`` behind ``Tokenize``, with
  length buckets and with ``pad_to: "batch"``, on generated messages of mixed lengths
  (:func:`write_text_versions`, :func:`texts`).

The FFN of Crayfish (EDBT 2024): 784 inputs (a 28 x 28 image) → 35 ReLU units → 10
classes, softmax output; 27,835 parameters (Crayfish: "about 28K"); the network is
``models/tensor_examples.FeedForward``. Weights are random and seeded: they do not change
the cost. Exported to ONNX (opset 17, dynamic batch axis), input ``pixels`` (batch, 28, 28)
float32, output ``probs``, and registered with ``streamapp.registration.register`` (its
reference rows and the profile of the monitored sketch columns).
"""

from __future__ import annotations

import base64
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

NAME = "crayfish-ffn"
SHAPE = (28, 28)
HIDDEN = 35
ENCODINGS = ("json", "base64")
"""How events carry the pixels: JSON nested arrays (Crayfish's form) or base64 float32."""


def pixels(n: int, seed: int) -> npt.NDArray[np.float32]:
    """``n`` images of uniform [0, 1) pixels, 6 decimals (what the JSON form carries)."""
    rng = np.random.default_rng(seed)
    return np.round(rng.random((n, *SHAPE)), 6).astype(np.float32)


def features(image: npt.NDArray[np.float32], encoding: str) -> dict[str, object]:
    """One event's ``features`` object in ``encoding``."""
    if encoding == "json":
        return {"pixels": np.round(image.astype(np.float64), 6).tolist()}
    return {"pixels": base64.b64encode(image.astype("<f4").tobytes()).decode()}


def events(n: int, seed: int, prefix: str, encoding: str) -> list[tuple[bytes, bytes]]:
    """``n`` keyed event records (the same images for every encoding of one seed)."""
    now = datetime.now(UTC).isoformat()
    return [(f"{prefix}{i}".encode(),
             orjson.dumps({"event_id": f"{prefix}{i}", "event_time": now,
                           "features": features(image, encoding)}))
            for i, image in enumerate(pixels(n, seed))]


def _net() -> Any:
    """Crayfish's FFN (``models/tensor_examples.FeedForward``), 35 hidden units, seeded."""
    import torch

    from models.tensor_examples import FeedForward

    torch.manual_seed(26)
    return FeedForward(hidden=HIDDEN).eval()


def parameters() -> int:
    """Weights and biases of the FFN: 784 x 35 + 35 + 35 x 10 + 10 = 27,835."""
    return int(sum(p.numel() for p in _net().parameters()))


def write_version(registry: Path) -> str:
    """Export the FFN to ONNX and register it as ``crayfish-ffn/1`` (production) in
    ``registry`` with :func:`streamapp.registration.register` (reference: 2,000 images)."""
    import torch

    from streamapp.registration import register

    path = Path(tempfile.mkdtemp(prefix="crayfish-onnx-")) / "ffn.onnx"
    torch.onnx.export(_net(), (torch.zeros(1, *SHAPE),), str(path), input_names=["pixels"],
                      output_names=["probs"], opset_version=17, dynamo=False,
                      dynamic_axes={"pixels": {0: "batch"}, "probs": {0: "batch"}})
    register(path, {"pixels": pixels(2000, 0)}, name=NAME, registry=registry,
             classes=list(range(10)), output="probs", drift_target=None)
    return NAME


# -- the ResNet-50 workload: images sent as PNG bytes ----------------------------------

CNN_NAME = "crayfish-resnet50"
CNN_CLASSES = 1000


def png_images(n: int, seed: int, size: int) -> list[bytes]:
    """``n`` RGB ``size`` x ``size`` PNG files of seeded uniform noise (noise does not
    compress: each is the largest PNG of its size, about 3 x size² bytes)."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), mode="RGB"
                        ).save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def image_features(png: bytes) -> dict[str, object]:
    """One event's ``features``: the PNG as base64 (how ``bytes`` features travel)."""
    return {"image": base64.b64encode(png).decode()}


def keyed(features_list: list[dict[str, object]], prefix: str) -> list[tuple[bytes, bytes]]:
    """Keyed event records carrying ``features_list`` in order."""
    now = datetime.now(UTC).isoformat()
    return [(f"{prefix}{i}".encode(),
             orjson.dumps({"event_id": f"{prefix}{i}", "event_time": now, "features": f}))
            for i, f in enumerate(features_list)]


def cnn_parameters() -> int:
    """Weights of the ResNet-50 (1,000 classes): 25,557,032, whatever the input size."""
    from benchmarks.gpu.models import resnet50

    return int(sum(p.numel() for p in resnet50(CNN_CLASSES).parameters()))


def write_cnn_version(registry: Path, size: int) -> str:
    """ResNet-50 (``benchmarks.gpu.models.resnet50``, 1,000 classes, random seeded weights)
    exported to ONNX (opset 17, input ``input`` (batch, 3, size, size), output ``probs``) and
    registered as ``crayfish-resnet50/1`` behind ``DecodeImages`` (RGB, ``size`` x ``size``,
    ImageNet normalisation) with :func:`streamapp.registration.register`."""
    import torch

    from benchmarks.gpu.models import resnet50
    from streamapp.registration import register

    torch.manual_seed(26)
    net = resnet50(CNN_CLASSES).eval()
    path = Path(tempfile.mkdtemp(prefix="crayfish-onnx-")) / "resnet50.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, size, size),), str(path), input_names=["input"],
                      output_names=["probs"], opset_version=17, dynamo=False,
                      dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}})
    register(path, {"image": png_images(64, 0, size)}, name=CNN_NAME, registry=registry,
             classes=list(range(CNN_CLASSES)), output="probs", drift_target=None,
             pre="streamapp.preprocess.image:DecodeImages",
             pre_options={"size": [size, size], "mode": "RGB"})
    return CNN_NAME


# -- the text workload: a transformer classifier on mixed lengths ----------------------

TEXT_NAME = "crayfish-text"
TEXT_MAX_TOKENS = 256
TEXT_BUCKETS = [8, 16, 32, 64, 128, 256]
TEXT_CLASSES = ["complaint", "praise"]


def word_counts(n: int, seed: int) -> npt.NDArray[np.int64]:
    """Mixed lengths: log-normal around 24 words (sigma 0.8), 8 to 256
    (``benchmarks.gpu.run.token_lengths``)."""
    import math

    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(math.log(24), 0.8, n).astype(np.int64), 8, TEXT_MAX_TOKENS)


def texts(n: int, seed: int) -> list[str]:
    """``n`` messages of :func:`word_counts` words each, made of the template messages of
    ``models.tensor_examples.generated_texts`` run together (commas dropped, so that a
    word is one token of the trained tokenizer)."""
    from models.tensor_examples import generated_texts

    pool = " ".join(generated_texts(2000, seed)[0]).replace(",", "").lower().split()
    rng = np.random.default_rng(seed + 1)
    out = []
    for count in word_counts(n, seed):
        start = int(rng.integers(0, len(pool) - count))
        out.append(" ".join(pool[start:start + count]).capitalize())
    return out


def text_parameters(vocab: int) -> int:
    """Weights of the transformer classifier with a ``vocab``-token embedding."""
    from benchmarks.gpu.models import TextClassifier

    return int(sum(p.numel() for p in TextClassifier(vocab).parameters()))


def write_text_versions(registry: Path) -> tuple[dict[str, str], int]:
    """A WordPiece tokenizer trained with ``train_tokenizer`` on 2,000 messages and the
    transformer classifier of ``benchmarks.gpu.models`` (4 layers, d_model 256, 4 heads,
    random seeded weights), registered twice behind ``Tokenize`` (max_tokens 256): with
    length buckets (``crayfish-text``, buckets 8 … 256) and padded to the batch's longest
    (``crayfish-text-batchpad``, ``pad_to: "batch"``). Returns ({padding: model name},
    the tokenizer's vocabulary size)."""
    import torch
    from tokenizers import Tokenizer

    from benchmarks.gpu.models import TextClassifier
    from streamapp.preprocess.text import train_tokenizer
    from streamapp.registration import register
    from streamapp.registry.manifest import FeatureSpec

    workdir = Path(tempfile.mkdtemp(prefix="crayfish-text-"))
    tokenizer = train_tokenizer(texts(2000, 100), workdir, vocab_size=2000)
    vocab = Tokenizer.from_file(str(tokenizer)).get_vocab_size()
    torch.manual_seed(26)
    net = TextClassifier(vocab, classes=len(TEXT_CLASSES)).eval()
    names = {"bucket": TEXT_NAME, "batch": f"{TEXT_NAME}-batchpad"}
    reference = {"message": texts(64, 101)}
    for pad_to, name in names.items():
        register(net, reference, name=name, registry=registry, classes=TEXT_CLASSES,
                 drift_target=None, features=[FeatureSpec(name="message", type="text",
                                                          max_length=16384)],
                 pre="streamapp.preprocess.text:Tokenize",
                 pre_options={"max_tokens": TEXT_MAX_TOKENS, "buckets": TEXT_BUCKETS,
                              "pad_to": pad_to},
                 files={"tokenizer": tokenizer})
    return names, vocab
