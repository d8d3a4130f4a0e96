"""Turn what the user has into a served artifact: ONNX / TorchScript files or converted models.

scikit-learn estimators and pipelines are converted with skl2onnx, LightGBM and
XGBoost models with onnxmltools, always with ``zipmap=False`` and a dynamic
batch axis. These converters are imported here only: registration runs in the
CLI (or a notebook), never in a scoring worker. A pickle or joblib file is
loaded only with ``allow_pickle=True``, because loading one executes code.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.registration.frame import RegistrationError

INPUT_NAME = "features"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
SourceFn = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class Converted:
    """A serialised artifact plus what the manifest and the validation need to know."""

    format: str
    filename: str
    data: bytes
    input_name: str
    output_name: str
    classification: bool | None
    """True / False when the source says so; None for a bare artifact (the task decides)."""
    classes: list[int | str] | None = None
    source: SourceFn | None = None
    """The source model's own outputs (probabilities or values), to compare the artifact with."""
    provenance: dict[str, str] = field(default_factory=dict)


def load_file(path: Path, allow_pickle: bool = False) -> Any:
    """An artifact file's bytes (``.onnx``, ``.pt``), or the model a pickle holds."""
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise RegistrationError(
                f"{path}: loading a pickle/joblib file executes code from it; pass "
                "--allow-pickle-code-execution (allow_pickle=True) only for files you trust"
            )
        import joblib

        return joblib.load(path)
    if suffix not in (".onnx", ".pt", ".ts"):
        raise RegistrationError(f"{path}: expected .onnx, .pt (TorchScript) or a pickle file")
    return path


def convert(model: Any, sample: npt.NDArray[np.float32]) -> Converted:
    """Artifact of ``model`` (a path, ONNX bytes, a fitted estimator or a ScriptModule)."""
    if isinstance(model, Path):
        if model.suffix.lower() == ".onnx":
            return _from_onnx(model.read_bytes(), None)
        return Converted("torchscript", "model.pt", model.read_bytes(), INPUT_NAME, "output", None)
    if isinstance(model, bytes):
        return _from_onnx(model, None)
    module = type(model).__module__.split(".")[0]
    if module == "torch":
        return _torchscript(model)
    if not hasattr(model, "predict"):
        raise RegistrationError(f"cannot register a {type(model).__name__}: no predict()")
    classification = hasattr(model, "predict_proba") and hasattr(model, "classes_")
    data = _to_onnx(model, module, sample, classification)
    names = getattr(model, "feature_names_in_", None)

    def source(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        data: Any = x
        if names is not None and len(names) == x.shape[1]:
            import pandas as pd

            data = pd.DataFrame(x, columns=names)  # as the model was fitted
        out = model.predict_proba(data) if classification else model.predict(data)
        return np.asarray(out, dtype=np.float64).reshape(len(x), -1)

    classes = [_py(c) for c in model.classes_] if classification else None
    conv = _from_onnx(data, classification)
    return Converted(
        conv.format, conv.filename, conv.data, conv.input_name, conv.output_name,
        classification, classes, source, _provenance(model, module),
    )


def _to_onnx(model: Any, module: str, sample: npt.NDArray[np.float32], clf: bool) -> bytes:
    width = sample.shape[1]
    try:
        from skl2onnx.common.data_types import FloatTensorType

        types = [(INPUT_NAME, FloatTensorType([None, width]))]
        if module in ("lightgbm", "xgboost"):
            import onnxmltools

            fn = getattr(onnxmltools, f"convert_{module}")
            kwargs = {"zipmap": False} if clf else {}
            proto = fn(model, initial_types=types, **kwargs)
        else:
            from skl2onnx import to_onnx

            options = {id(model): {"zipmap": False}} if clf else None
            proto = to_onnx(model, initial_types=types, options=options)
    except ImportError as exc:
        raise RegistrationError(
            f"converting a {module} model needs the register extra: "
            f"pip install 'streamapp[register]' ({exc})"
        ) from exc
    except Exception as exc:  # converter errors: unsupported estimator, custom step, ...
        raise RegistrationError(
            f"cannot convert {type(model).__name__} to ONNX: {exc}; export it yourself "
            "(ONNX with one float32 input, zipmap=False) and register the .onnx file"
        ) from exc
    return bytes(proto.SerializeToString())


def _from_onnx(data: bytes, classification: bool | None) -> Converted:
    """Pick the input and the output tensor (probabilities for classifiers) of an ONNX graph."""
    import onnx

    graph = onnx.load_model_from_string(data).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in initializers]
    float_type = onnx.TensorProto.FLOAT
    floats = [o.name for o in graph.output if o.type.tensor_type.elem_type == float_type]
    probs = [n for n in floats if "prob" in n.lower()] if classification is not False else []
    zipmaps = [o.name for o in graph.output if o.type.HasField("sequence_type")]
    output = (probs or floats or zipmaps or [graph.output[0].name])[0]
    return Converted("onnx", "model.onnx", data, inputs[0] if inputs else INPUT_NAME, output,
                     classification)


def _torchscript(model: Any) -> Converted:
    import torch

    if not isinstance(model, torch.jit.ScriptModule):
        raise RegistrationError(
            "register a torch model as TorchScript: torch.jit.script(model) or "
            "torch.jit.trace(model, example) first"
        )
    buffer = io.BytesIO()
    torch.jit.save(model, buffer)

    def source(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        with torch.inference_mode():
            return np.asarray(model(torch.from_numpy(x)).numpy(), dtype=np.float64)

    return Converted("torchscript", "model.pt", buffer.getvalue(), INPUT_NAME, "output", None,
                     source=source, provenance={"source": "torch"})


def _provenance(model: Any, module: str) -> dict[str, str]:
    """The source family, estimator class and hyperparameters (for retraining).

    ``estimator_params`` is recorded only when every hyperparameter is a JSON
    scalar, i.e. when the class can be rebuilt from it (not a Pipeline's steps).
    """
    cls = type(model)
    info = {"source": module, "estimator": f"{cls.__module__}:{cls.__qualname__}"}
    params = model.get_params(deep=False) if hasattr(model, "get_params") else None
    if params is not None and all(
        v is None or isinstance(v, bool | int | float | str) for v in params.values()
    ):
        info["estimator_params"] = json.dumps(params, sort_keys=True)
    return info


def _py(value: Any) -> int | str:
    value = value.item() if isinstance(value, np.generic) else value
    return value if isinstance(value, int) and not isinstance(value, bool) else str(value)
