"""Crayfish's feed-forward workload: the model as a registry version, and its events.

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
