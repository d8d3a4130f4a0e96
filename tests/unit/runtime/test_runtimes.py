"""Contract tests over every model runtime: deterministic, schema-conforming, equivalent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.base import ModelLoadError
from streamapp.runtime.device import cuda_available
from streamapp.runtime.loader import load_model, reference_rows
from tests.conftest import MODELS
from tests.scoring_support import break_onnx, copy_version

RUNTIMES = ["onnx", "torch"]
NAMES = ["agrawal-clf", "friedman-reg"]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", NAMES)
def test_runtime_contract(name: str, runtime: str) -> None:
    version = ModelRegistry(MODELS).resolve(name)
    model = load_model(version, runtime, "cpu")
    rows = reference_rows(version, 64)
    out = model.predict(rows)
    assert out.dtype == np.float32 and out.shape == (64, version.manifest.output.width)
    assert np.array_equal(out, model.predict(rows))  # deterministic
    assert np.allclose(model.predict(rows[:1]), out[:1], atol=1e-5)  # batch-size invariant
    if version.manifest.task.is_classification:
        assert np.allclose(out.sum(axis=1), 1.0, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_onnx_and_torchscript_agree(name: str) -> None:
    version = ModelRegistry(MODELS).resolve(name)
    rows = reference_rows(version, 128)
    onnx = load_model(version, "onnx", "cpu").predict(rows)
    torch = load_model(version, "torch", "cpu").predict(rows)
    assert np.allclose(onnx, torch, atol=1e-4)


def test_broken_artifact_is_rejected(model_registry_dir: Path) -> None:
    broken = copy_version(model_registry_dir, "agrawal-clf", "1", "9")
    break_onnx(broken)
    with pytest.raises(ModelLoadError, match="bad ONNX"):
        load_model(ModelRegistry(model_registry_dir).get("agrawal-clf", "9"), "onnx", "cpu")


def test_forced_cuda_without_gpu_fails_clearly() -> None:
    if cuda_available():
        pytest.skip("a CUDA device is present")
    version = ModelRegistry(MODELS).resolve("agrawal-clf")
    with pytest.raises(ModelLoadError, match="cuda"):
        load_model(version, "onnx", "cuda")


def test_onnx_on_cpu_machine_does_not_import_torch() -> None:
    if cuda_available():
        pytest.skip("with an NVIDIA driver the device check imports torch by design")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from streamapp.registry.registry import ModelRegistry\n"
        "from streamapp.runtime.loader import load_model\n"
        f"load_model(ModelRegistry(Path({str(MODELS)!r})).resolve('agrawal-clf'))\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_torch_thread_pool_is_sized_once_per_process() -> None:
    code = (
        "import torch\n"
        "from pathlib import Path\n"
        "from streamapp.registry.registry import ModelRegistry\n"
        "from streamapp.runtime.loader import load_model\n"
        f"version = ModelRegistry(Path({str(MODELS)!r})).resolve('agrawal-clf')\n"
        "sizes = []\n"
        "for threads in (2, 3, 1):\n"
        "    load_model(version, 'torch', 'cpu', threads)\n"
        "    sizes.append(torch.get_num_threads())\n"
        "print(sizes)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[2, 2, 2]"
    assert "torch intra-op threads stay 2 for this process (asked: 3)" in out.stderr
