"""A tensor model's artifact: TorchScript (scripted, or traced on reference inputs) or ONNX.

Sources: a ``torch.nn.Module`` (``torch.jit.script``, falling back to ``torch.jit.trace``
on the reference rows' model inputs; the manifest's ``training.export`` says which), a
``torch.jit.ScriptModule``, a TorchScript file, or ONNX bytes / file. Their inputs are
named (``forward``'s arguments, the graph's inputs) and fed by name; ``output`` picks the
prediction among several outputs: a dict key or ONNX output name (``str``), a tuple
position or ONNX output position (``int``).
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamapp.processing import ModelInputs
from streamapp.registration.frame import RegistrationError

SourceFn = Callable[[ModelInputs], npt.NDArray[np.float64]]
ONNX_NUMPY = {1: "float32", 2: "uint8", 6: "int32", 7: "int64", 9: "bool", 10: "float16",
              11: "float64"}
"""ONNX element type → the tensor feature dtype that feeds it as it is."""


@dataclass(frozen=True)
class Signature:
    """A model's named inputs (in call order) and, for ONNX, their dtypes."""

    inputs: list[str]
    dtypes: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TensorConverted:
    """A serialised artifact, which output is the prediction, and the source to compare."""

    format: str
    filename: str
    data: bytes
    output_name: str
    output_index: int | None
    source: SourceFn | None
    provenance: dict[str, str]


def signature(model: Any) -> Signature:
    """The input names of ``model`` (a path, ONNX bytes, a torch module)."""
    if isinstance(model, Path):
        if model.suffix.lower() == ".onnx":
            return _onnx_signature(model.read_bytes())
        return _script_signature(_load_script(model.read_bytes()))
    if isinstance(model, bytes):
        return _onnx_signature(model)
    torch = _torch(model)
    if torch is None:
        raise RegistrationError(
            f"cannot register a {type(model).__name__} as a tensor model: pass a torch.nn.Module, "
            "a TorchScript module or file, or an ONNX model (bytes or .onnx file)")
    if isinstance(model, torch.jit.ScriptModule):
        return _script_signature(model)
    params = inspect.signature(model.forward).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY)
    return Signature([p.name for p in params if p.kind in kinds])


def convert_tensor(model: Any, sig: Signature, example: ModelInputs,
                   output: str | int | None) -> TensorConverted:
    """The artifact of ``model``; ``example``: its inputs on a few reference rows (traced on
    when scripting fails, and run once to see what the model returns)."""
    if isinstance(model, Path) and model.suffix.lower() == ".onnx":
        return _onnx(model.read_bytes(), sig, output)
    if isinstance(model, bytes):
        return _onnx(model, sig, output)
    if isinstance(model, Path):
        data = model.read_bytes()
        name, index = _pick(_run_script(_load_script(data), sig, example), output)
        return TensorConverted("torchscript", "model.pt", data, name, index, None,
                               {"source": "torchscript-file"})
    import torch

    how = "script"
    scripted: Any = model
    if not isinstance(model, torch.jit.ScriptModule):
        try:
            scripted = torch.jit.script(model)
        except Exception as script_error:  # unsupported Python: trace on the reference inputs
            how = "trace"
            args = tuple(torch.from_numpy(np.require(example[n], requirements=["C", "W"]))
                         for n in sig.inputs)
            try:
                with torch.inference_mode(False), torch.no_grad():
                    scripted = torch.jit.trace(  # type: ignore[no-untyped-call]
                        model, args, strict=False)
            except Exception as exc:
                raise RegistrationError(
                    f"{type(model).__name__}: torch.jit.script failed ({script_error}) and "
                    f"torch.jit.trace on the reference inputs failed ({exc}); export it to "
                    "TorchScript or ONNX yourself") from exc
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)

    def run(inputs: ModelInputs) -> Any:
        args = [torch.from_numpy(np.require(inputs[n], requirements=["C", "W"]))
                for n in sig.inputs]
        with torch.inference_mode():
            return model(*args)

    name, index = _pick(run(example), output)

    def source(inputs: ModelInputs) -> npt.NDArray[np.float64]:
        out = _select(run(inputs), name, index)
        return np.asarray(out.float().numpy(), dtype=np.float64)

    return TensorConverted("torchscript", "model.pt", buffer.getvalue(), name, index, source,
                           {"source": "torch", "export": how})


def _torch(model: Any) -> Any:
    if type(model).__module__.split(".")[0] != "torch" and not _is_module(model):
        return None
    import torch

    return torch


def _is_module(model: Any) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" == "torch.nn.modules.module.Module"
               for c in type(model).__mro__)


def _load_script(data: bytes) -> Any:
    import torch

    try:
        return torch.jit.load(io.BytesIO(data), map_location="cpu")  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise RegistrationError(f"not a TorchScript archive: {exc}") from exc


def _script_signature(module: Any) -> Signature:
    try:
        return Signature([a.name for a in module.forward.schema.arguments[1:]])
    except AttributeError:
        raise RegistrationError("the TorchScript module has no forward schema") from None


def _run_script(module: Any, sig: Signature, inputs: ModelInputs) -> Any:
    import torch

    args = [torch.from_numpy(np.require(inputs[n], requirements=["C", "W"])) for n in sig.inputs]
    with torch.inference_mode():
        return module.eval()(*args)


def _pick(out: Any, output: str | int | None) -> tuple[str, int | None]:
    """``(output.name, output.index)`` for what a torch module returned."""
    import torch

    if isinstance(out, torch.Tensor):
        if output not in (None, 0, "output"):
            raise RegistrationError(f"the module returns one tensor; output={output!r} picks "
                                    "nothing")
        return "output", None
    if isinstance(out, tuple | list):
        if not isinstance(output, int) or isinstance(output, bool) or not 0 <= output < len(out):
            raise RegistrationError(f"the module returns a tuple of {len(out)}; pass output=i "
                                    "(the prediction's position)")
        return "output", output
    if isinstance(out, dict):
        name = "output" if output is None else output
        if not isinstance(name, str) or name not in out:
            raise RegistrationError(f"the module returns a dict {sorted(out)}; pass "
                                    "output='key' (the prediction's key)")
        return name, None
    raise RegistrationError(f"the module returns a {type(out).__name__}, not tensors")


def _select(out: Any, name: str, index: int | None) -> Any:
    if isinstance(out, tuple | list) and index is not None:
        return out[index]
    if isinstance(out, dict):
        return out[name]
    return out


def _onnx_signature(data: bytes) -> Signature:
    import onnx

    try:
        graph = onnx.load_model_from_string(data).graph
    except Exception as exc:
        raise RegistrationError(f"not an ONNX model: {exc}") from exc
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    dtypes = {i.name: ONNX_NUMPY.get(i.type.tensor_type.elem_type, "float32") for i in inputs}
    return Signature([i.name for i in inputs], dtypes, [o.name for o in graph.output])


def _onnx(data: bytes, sig: Signature, output: str | int | None) -> TensorConverted:
    if isinstance(output, int) and not isinstance(output, bool):
        if not 0 <= output < len(sig.outputs):
            raise RegistrationError(f"output={output}: the graph has outputs {sig.outputs}")
        name = sig.outputs[output]
    elif isinstance(output, str):
        if output not in sig.outputs:
            raise RegistrationError(f"output={output!r}: the graph has outputs {sig.outputs}")
        name = output
    elif len(sig.outputs) == 1:
        name = sig.outputs[0]
    else:
        probs = [o for o in sig.outputs if "prob" in o.lower()]
        if len(probs) != 1:
            raise RegistrationError(f"the graph has outputs {sig.outputs}; pass output= "
                                    "(name or position of the prediction)")
        name = probs[0]
    return TensorConverted("onnx", "model.onnx", data, name, None, None, {"source": "onnx"})
