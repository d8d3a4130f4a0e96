"""Turn what the user has into a served artifact: ONNX / TorchScript files or converted models.

scikit-learn estimators and pipelines are converted with skl2onnx, LightGBM and
XGBoost models with onnxmltools, always with ``zipmap=False`` and a dynamic
batch axis. These converters are imported here only: registration runs in the
CLI (or a notebook), never in a scoring worker. A pickle or joblib file is
loaded only with ``allow_pickle=True``, because loading one executes code.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.registration.failures import conversion_error, import_error, readable_cause
from streamapp.registration.frame import RegistrationError
from streamapp.registration.thresholds import lightgbm_model_text, round_hist_predictors

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
    converter = "onnxmltools" if module in ("lightgbm", "xgboost") else "skl2onnx"
    try:
        if converter == "onnxmltools":
            proto = _onnxmltools(model, module, width, clf)
        else:
            proto = _skl2onnx(model, width, clf)
    except ImportError as exc:
        raise import_error(module, converter, exc) from exc
    except RegistrationError:
        raise
    except Exception as exc:  # converter errors: unsupported estimator, custom step, ...
        error = conversion_error(type(model).__name__, converter, exc)
        raise error from readable_cause(exc)  # not the outer messages: whole node dumps
    return bytes(proto.SerializeToString())


def _skl2onnx(model: Any, width: int, clf: bool) -> Any:
    """skl2onnx's graph; a ColumnTransformer that picks columns by name gets one input per
    column (``feature_names_in_``), which :func:`_one_input` joins back into one."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    _refuse_text_categories(model)
    model = _float32_hist_splits(model)
    options = {id(model): {"zipmap": False}} if clf else None
    names = [str(n) for n in getattr(model, "feature_names_in_", [])]
    if len(names) == width and _selects_by_name(model):
        types = [(n, FloatTensorType([None, 1])) for n in names]
        return _one_input(to_onnx(model, initial_types=types, options=options), names)
    types = [(INPUT_NAME, FloatTensorType([None, width]))]
    return to_onnx(model, initial_types=types, options=options)


def _onnxmltools(model: Any, module: str, width: int, clf: bool) -> Any:
    """onnxmltools' graph. XGBoost's converter reads splits by position (``f0``, ``f1``,
    ...), so a copy without the booster's feature names is converted; LightGBM's splits
    get float32 thresholds first (:func:`.thresholds.lightgbm_model_text`)."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [(INPUT_NAME, FloatTensorType([None, width]))]
    if module == "xgboost":
        model = copy.deepcopy(model)
        model.get_booster().feature_names = None
        return onnxmltools.convert_xgboost(model, initial_types=types)  # outputs tensors
    if hasattr(model, "model_to_string"):  # a bare lightgbm.Booster
        model = type(model)(model_str=lightgbm_model_text(model.model_to_string()))
    else:
        model = copy.copy(model)
        booster = model.booster_
        model._Booster = type(booster)(model_str=lightgbm_model_text(booster.model_to_string()))
    return onnxmltools.convert_lightgbm(model, initial_types=types, zipmap=False)


def _parts(model: Any) -> Iterator[Any]:
    """``model`` and every fitted step, transformer and sub-pipeline inside it."""
    yield model
    for attr in ("steps", "transformers_", "transformer_list"):
        for item in getattr(model, attr, None) or []:
            if hasattr(item[1], "get_params"):
                yield from _parts(item[1])


def _selects_by_name(model: Any) -> bool:
    """Whether some ColumnTransformer inside ``model`` selects columns by name."""
    for part in _parts(model):
        for _name, _step, cols in getattr(part, "transformers_", []):
            picked = [cols] if isinstance(cols, str) else cols
            if any(isinstance(c, str) for c in np.asarray(picked, dtype=object).ravel()):
                return True
    return False


def _refuse_text_categories(model: Any) -> None:
    """An encoder fitted on text categories cannot take streamapp's category codes."""
    for part in _parts(model):
        for i, cats in enumerate(getattr(part, "categories_", None) or []):
            if any(isinstance(c, str) for c in cats):
                column = _input_name(part, i)
                raise RegistrationError(
                    f"cannot convert {type(model).__name__}: its {type(part).__name__} was "
                    f"fitted on the text categories {[str(c) for c in cats[:4]]} of {column}, "
                    "but streamapp feeds a categorical feature as its code (the index in its "
                    "sorted categories); fit the pipeline on the encoded frame, or one-hot "
                    "encode in a pre processor (docs/models.md#model-families)"
                )


def _input_name(part: Any, i: int) -> str:
    names = getattr(part, "feature_names_in_", None)
    return repr(str(names[i])) if names is not None and i < len(names) else f"column {i}"


def _float32_hist_splits(model: Any) -> Any:
    """``model``, or a copy whose HistGradientBoosting splits have float32 thresholds
    (:mod:`.thresholds`); skl2onnx reads them from the fitted ``_predictors``."""
    if not any(hasattr(part, "_predictors") for part in _parts(model)):
        return model
    model = copy.deepcopy(model)
    for part in _parts(model):
        if hasattr(part, "_predictors"):
            round_hist_predictors(part._predictors)
    return model


def _one_input(model: Any, names: list[str]) -> Any:
    """Replace the graph's per-column inputs by one float32 ``(n, len(names))`` input
    split into them, so the scorer feeds one matrix as it does every artifact."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    columns = [i.name for i in graph.input]  # in initial_types order, as skl2onnx named them
    if len(columns) != len(names):
        raise RegistrationError(f"skl2onnx made {len(columns)} inputs for {len(names)} columns")
    taken = {n for node in graph.node for n in (*node.input, *node.output)} | set(columns)
    feed = INPUT_NAME if INPUT_NAME not in taken else f"{INPUT_NAME}_{len(taken)}"
    del graph.input[:]
    graph.input.append(
        helper.make_tensor_value_info(feed, onnx.TensorProto.FLOAT, [None, len(columns)])
    )
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset >= 13:  # Split takes its sizes as an input from opset 13 on
        sizes = f"{feed}_split"
        graph.initializer.append(numpy_helper.from_array(np.ones(len(columns), np.int64), sizes))
        split = helper.make_node("Split", [feed, sizes], columns, axis=1)
    else:
        split = helper.make_node("Split", [feed], columns, axis=1, split=[1] * len(columns))
    graph.node.insert(0, split)
    onnx.checker.check_model(model)
    return model


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
