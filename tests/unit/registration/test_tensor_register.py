"""``register()`` of tensor, text and image models, end to end through the scorer's loader."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from typer.testing import CliRunner

from models.tensor_examples import SmallCNN, TextClassifier, generated_texts, png_bytes
from streamapp.cli import app
from streamapp.inputs.sketch import PROJECTIONS
from streamapp.inputs.tensors import TensorEncoder
from streamapp.preprocess.text import train_tokenizer
from streamapp.registration import RegistrationError, register
from streamapp.registry.manifest import FeatureSpec
from streamapp.registry.registry import ModelRegistry, sha256_file, verified_profile
from streamapp.runtime.loader import load_model
from streamapp.statistics.spec import ModelSpec

WINDOWS = (500,)
FAST = {"drift_windows": WINDOWS, "drift_bootstrap": 40}


def _nothing_left(root: Path, name: str) -> None:
    folder = root / name
    assert not folder.exists() or list(folder.iterdir()) == []


def _drift_columns(mv_path: Path, mv: object) -> tuple[set[str], set[str]]:
    from streamapp.registry.registry import ModelVersion

    assert isinstance(mv, ModelVersion)
    profile = verified_profile(mv)
    assert profile.calibration is not None
    drift = profile.calibration.windows[0].feature_drift
    assert drift is not None
    return set(profile.numeric) | set(profile.categorical), set(drift.thresholds)


class SignalNet(nn.Module):
    """A tensor ``signal (n, 4, 3)`` and the scalar matrix ``features (n, 1)`` → 2 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.signal = nn.Linear(12, 8)
        self.scalar = nn.Linear(1, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, signal: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(self.signal(signal.flatten(1)) + self.scalar(features))
        return torch.softmax(self.out(hidden), dim=1)


class Untraceable(SignalNet):
    """Same net, written with a generator expression TorchScript cannot compile."""

    def forward(self, signal: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        parts = [self.signal(signal.flatten(1)), self.scalar(features)]
        hidden = torch.tanh(sum(p for p in parts))  # type: ignore[arg-type]
        return torch.softmax(self.out(hidden), dim=1)


def _signal_data(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, 4, 3)).astype(np.float32)
    age = rng.uniform(18, 90, n)
    y = np.where(signal[:, 0, 0] + (age - 50) / 30 + rng.normal(0, 0.5, n) > 0, "yes", "no")
    return {"signal": signal, "age": age}, y


@pytest.fixture(scope="module")
def signal_net() -> SignalNet:
    torch.manual_seed(0)
    return SignalNet().eval()


def test_multi_input_torch_module_registers_scripted(tmp_path: Path,
                                                     signal_net: SignalNet) -> None:
    x, y = _signal_data(600)
    held_x, held_y = _signal_data(300, seed=1)
    result = register(signal_net, x, y, name="sig", registry=tmp_path, holdout=held_x,
                      y_holdout=held_y, **FAST)
    mv = result.version
    m = mv.manifest
    assert [(f.name, f.type) for f in m.features] == [("signal", "tensor"), ("age", "numeric")]
    assert m.features[0].dtype == "float32" and m.features[0].shape == [4, 3]
    assert m.input_name == "features" and m.output.classes == ["no", "yes"]
    assert m.training["export"] == "script" and m.training["baseline"] == "holdout"
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-6
    assert result.promoted == "production"
    assert {p.name for p in result.files} == {"manifest.json", "model.pt", "profile.json",
                                              "reference.npz"}
    assert set(m.baseline_metrics) >= {"accuracy", "n_validation"}
    assert m.baseline_metrics["n_validation"] == 300
    # the profile: the scalar feature and the sketch columns, each calibrated
    sketch = {f"signal.proj{j}" for j in range(PROJECTIONS)} | {"signal.rms"}
    profiled, calibrated = _drift_columns(mv.path, mv)
    assert profiled == calibrated == sketch | {"age"}
    assert verified_profile(mv).estimator is not None
    spec = ModelSpec(m, verified_profile(mv))
    assert {c.name for c in spec.columns} == sketch | {"age"}
    # events as producers send them: nested arrays and base64, through the worker's decoder
    served = load_model(mv, "auto", "cpu")
    events = [{"signal": held_x["signal"][0].tolist(), "age": float(held_x["age"][0])},
              {"signal": base64.b64encode(held_x["signal"][1].tobytes()).decode(),
               "age": float(held_x["age"][1])}]
    batch, order, errors = TensorEncoder(m).encode_dicts(events)
    assert errors == [] and order == [0, 1]
    with torch.no_grad():
        expected = signal_net(torch.from_numpy(held_x["signal"][:2]),
                              torch.from_numpy(held_x["age"][:2, None].astype(np.float32)))
    np.testing.assert_allclose(served.score(batch), expected.numpy(), atol=1e-6)
    assert set(served.sketcher.columns(batch)) == sketch


def test_unscriptable_module_is_traced(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = Untraceable().eval()
    x, y = _signal_data(300)
    result = register(net, x, y, name="traced", registry=tmp_path, **FAST)
    assert result.version.manifest.training["export"] == "trace"
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-6


def test_outputs_that_differ_from_the_source_leave_nothing(tmp_path: Path) -> None:
    torch.manual_seed(2)
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(12, 2), nn.Softmax(dim=1))
    net.train()  # forgot .eval(): dropout makes the source differ from the served artifact
    signal = np.random.default_rng(0).normal(size=(200, 4, 3)).astype(np.float32)
    with pytest.raises(RegistrationError, match=r"differ from the source.*eval"):
        register(net, {"input": signal}, np.arange(200) % 2, name="drop", registry=tmp_path,
                 **FAST)
    _nothing_left(tmp_path, "drop")


def _two_output_onnx(path: Path) -> Path:
    """ONNX: input ``x (n, 3)`` → ``embedding (n, 2)`` and ``probs`` = softmax(embedding)."""
    w = numpy_helper.from_array(np.array([[1.0, -1.0], [0.5, 0.2], [-0.3, 0.8]], np.float32),
                                "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["embedding"]),
         helper.make_node("Softmax", ["embedding"], ["probs"], axis=1)],
        "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, 2]),
         helper.make_tensor_value_info("probs", TensorProto.FLOAT, [None, 2])],
        [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_onnx_multi_output_picks_by_name_from_jsonl(tmp_path: Path) -> None:
    model = _two_output_onnx(tmp_path / "two.onnx")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)).round(3)
    data = _write_jsonl(tmp_path / "ref.jsonl", [{"x": row.tolist()} for row in x])
    reg = tmp_path / "reg"
    result = register(model, data, name="two", registry=reg, output="probs",
                      classes=["a", "b"], **FAST)
    m = result.version.manifest
    assert m.output.name == "probs" and m.task.value == "binary_classification"
    assert m.features[0].input is None and m.features[0].shape == [3]
    assert result.max_abs_diff is None  # a bare artifact: no source to compare with
    served = load_model(result.version, "auto", "cpu")
    batch, _, _ = TensorEncoder(m).encode_dicts([{"x": x[0].tolist()}])
    logits = x[0].astype(np.float32) @ np.array([[1.0, -1.0], [0.5, 0.2], [-0.3, 0.8]])
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(served.score(batch)[0], expected, atol=1e-5)
    # an unknown output name is refused (nothing written); a position picks by index
    with pytest.raises(RegistrationError, match="graph has outputs"):
        register(model, data, name="two", registry=reg, output="nope", classes=["a", "b"],
                 **FAST)
    assert ModelRegistry(reg).versions("two") == ["1"]
    second = register(model, data, name="two", registry=reg, output=1, classes=["a", "b"],
                      **FAST)
    assert second.version.manifest.output.name == "probs"


def test_bad_reference_rows_are_named_and_leave_nothing(tmp_path: Path) -> None:
    model = _two_output_onnx(tmp_path / "two.onnx")
    rows: list[dict[str, object]] = [{"x": [0.1, 0.2, 0.3]} for _ in range(50)]
    rows[7] = {"x": [0.1, 0.2]}
    data = _write_jsonl(tmp_path / "ref.jsonl", rows)
    spec = FeatureSpec(name="x", type="tensor", dtype="float32", shape=[3])
    with pytest.raises(RegistrationError, match=r"row 7: wrong_shape"):
        register(model, data, name="bad", registry=tmp_path / "reg", output="probs",
                 classes=["a", "b"], features=[spec], **FAST)
    rows[7] = {"x": [0.1, float("nan"), 0.3]}
    data = tmp_path / "nan.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))  # NaN as JSON NaN
    with pytest.raises(RegistrationError, match=r"row 7: non_finite"):
        register(model, data, name="bad", registry=tmp_path / "reg", output="probs",
                 classes=["a", "b"], features=[spec], **FAST)
    _nothing_left(tmp_path / "reg", "bad")


def test_npz_and_parquet_references(tmp_path: Path, signal_net: SignalNet) -> None:
    x, y = _signal_data(300)
    np.savez(tmp_path / "ref.npz", signal=x["signal"], age=x["age"], label=y)
    result = register(signal_net, tmp_path / "ref.npz", "label", name="npz",
                      registry=tmp_path / "reg", **FAST)
    assert [f.name for f in result.version.manifest.features] == ["signal", "age"]
    assert result.version.manifest.baseline_metrics["n_validation"] == 75
    frame = pd.DataFrame({"signal": [s.tolist() for s in x["signal"]], "age": x["age"],
                          "label": y})
    frame.to_parquet(tmp_path / "ref.parquet")
    again = register(signal_net, tmp_path / "ref.parquet", "label", name="pq",
                     registry=tmp_path / "reg", **FAST)
    assert again.version.manifest.features[0].shape == [4, 3]
    assert again.max_abs_diff is not None and again.max_abs_diff <= 1e-6
    framed = register(signal_net, frame, "label", name="frame", registry=tmp_path / "reg",
                      **FAST)  # a DataFrame with a list column is a tensor reference too
    assert framed.version.manifest.features[0].type == "tensor"


def test_text_model_with_a_local_tokenizer(tmp_path: Path) -> None:
    texts, labels = generated_texts(400, seed=3)
    tokenizer = train_tokenizer(texts, tmp_path, vocab_size=300)
    torch.manual_seed(0)
    net = TextClassifier(vocab=300, max_len=32).eval()
    result = register(
        net, {"message": texts}, labels, name="txt", registry=tmp_path / "reg",
        pre="streamapp.preprocess.text:Tokenize",
        pre_options={"max_tokens": 32, "buckets": [8, 16]},
        files={"tokenizer": tokenizer}, **FAST)
    mv = result.version
    m = mv.manifest
    assert m.features[0].type == "text" and m.features[0].max_length is not None
    assert m.processing is not None and m.processing.options["buckets"] == [8, 16]
    shipped = m.artifact("tokenizer")
    assert shipped is not None and shipped.sha256 == sha256_file(tokenizer)
    assert (mv.path / "tokenizer.json").read_bytes() == tokenizer.read_bytes()
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    profiled, calibrated = _drift_columns(mv.path, mv)
    assert profiled == calibrated == {"message.chars", "message.words", "message.tokens",
                                      "message.unk_rate"}
    served = load_model(mv, "auto", "cpu")
    out = served.score(TensorEncoder(m).encode_dicts([{"message": "the app was great"},
                                                      {"message": ""}])[0])
    assert out.shape == (2, 2) and np.allclose(out.sum(axis=1), 1.0)


def test_image_model_on_png_bytes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pngs = png_bytes(rng.uniform(0, 1, size=(240, 28, 28)))
    torch.manual_seed(0)
    net = SmallCNN().eval()
    result = register(net, {"digit": pngs}, rng.integers(0, 10, 240),
                      name="img", registry=tmp_path / "reg", classes=list(range(10)),
                      pre="streamapp.preprocess.image:DecodeImages",
                      pre_options={"size": [28, 28], "mode": "L"}, **FAST)
    m = result.version.manifest
    assert (m.features[0].type, m.features[0].media) == ("bytes", "image")
    profiled, calibrated = _drift_columns(result.version.path, result.version)
    assert profiled == {"digit.bytes", "digit.mean_0", "digit.std_0", "digit.aspect"}
    assert calibrated == profiled
    served = load_model(result.version, "auto", "cpu")
    event = {"digit": base64.b64encode(pngs[0]).decode()}
    out = served.score(TensorEncoder(m).encode_dicts([event])[0])
    assert out.shape == (1, 10)


def test_bad_pre_options_and_files_leave_nothing(tmp_path: Path) -> None:
    pngs = png_bytes(np.zeros((30, 28, 28)))
    with pytest.raises(RegistrationError, match="size"):
        register(SmallCNN().eval(), {"digit": pngs}, np.arange(30) % 10, name="img",
                 registry=tmp_path, classes=list(range(10)),
                 pre="streamapp.preprocess.image:DecodeImages", **FAST)
    with pytest.raises(RegistrationError, match="no such file"):
        register(SmallCNN().eval(), {"digit": pngs}, np.arange(30) % 10, name="img",
                 registry=tmp_path, classes=list(range(10)),
                 pre="streamapp.preprocess.text:Tokenize",
                 files={"tokenizer": tmp_path / "missing.json"}, **FAST)
    _nothing_left(tmp_path, "img")


def test_cli_registers_onnx_with_jsonl_and_options(tmp_path: Path) -> None:
    model = _two_output_onnx(tmp_path / "two.onnx")
    x = np.random.default_rng(0).normal(size=(200, 3)).round(3)
    data = _write_jsonl(tmp_path / "ref.jsonl", [{"x": r.tolist()} for r in x])
    done = CliRunner().invoke(app, [
        "models", "register", str(model), "--name", "two", "--data", str(data),
        "--registry", str(tmp_path / "reg"), "--output", "probs", "--classes", "a,b",
        "--feature", '{"name": "x", "type": "tensor", "dtype": "float32", "shape": [3]}',
        "--drift-window", "500", "--drift-bootstrap", "40"])
    assert done.exit_code == 0, done.output
    assert "x:tensor" in done.output
    m = ModelRegistry(tmp_path / "reg").get("two", "1").manifest
    assert m.output.name == "probs" and m.features[0].min is None
    bad = CliRunner().invoke(app, [
        "models", "register", str(model), "--name", "two", "--data", str(data),
        "--registry", str(tmp_path / "reg"), "--pre-option", "size=[28"])
    assert bad.exit_code != 0 and "not JSON" in bad.output
