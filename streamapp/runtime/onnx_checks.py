"""Check an ONNX session's signature against the manifest; errors name the exporter fix.

The common pitfalls of skl2onnx / onnxmltools / torch.onnx exports each get a
message saying how to re-export: ZipMap outputs, a fixed batch dimension, and
an input dtype other than float32.
"""

from __future__ import annotations

from typing import Any

from streamapp.registry.manifest import Manifest
from streamapp.runtime.base import ModelLoadError

ZIPMAP_FIX = (
    "the output is a ZipMap (a list of dicts); re-export the classifier with "
    "skl2onnx `to_onnx(model, X, options={'zipmap': False})` (onnxmltools: "
    "`zipmap=False`), or let `streamapp models register` convert it"
)
BATCH_FIX = (
    "re-export with a dynamic batch axis: skl2onnx `initial_types=[('{name}', "
    "FloatTensorType([None, {width}]))]`, torch.onnx.export(..., dynamic_axes="
    "{{'{name}': {{0: 'batch'}}}})"
)
DTYPE_FIX = (
    "streamapp feeds tensor(float) (float32); re-export with FloatTensorType / "
    "`X.astype(numpy.float32)`, not {dtype}"
)


ONNX_TYPES = {"float32": "tensor(float)", "float16": "tensor(float16)",
              "float64": "tensor(double)", "int64": "tensor(int64)", "int32": "tensor(int32)",
              "uint8": "tensor(uint8)", "bool": "tensor(bool)"}
"""A tensor feature's dtype → the ONNX input type that takes it as it is."""


def check_signature(manifest: Manifest, inputs: list[Any], outputs: list[Any]) -> None:
    """Raise :class:`ModelLoadError` when the session cannot take or return what we need."""
    tag = f"{manifest.name}/{manifest.version}"
    if manifest.is_tensor_model:
        _check_named_inputs(tag, manifest, inputs)
    elif len(inputs) != 1 or inputs[0].name != manifest.input_name:
        raise ModelLoadError(
            f"{tag}: expected one input {manifest.input_name!r}, artifact has "
            f"{[i.name for i in inputs]} (set manifest input_name, or export one input)"
        )
    else:
        _check_tensor(tag, "input", inputs[0], manifest.model_input_width)
    chosen = [o for o in outputs if o.name == manifest.output.name]
    if not chosen:
        raise ModelLoadError(
            f"{tag}: no output {manifest.output.name!r}; artifact outputs: "
            f"{[(o.name, o.type) for o in outputs]} (set manifest output.name)"
        )
    _check_tensor(tag, "output", chosen[0], manifest.model_output_width)


def _check_named_inputs(tag: str, manifest: Manifest, inputs: list[Any]) -> None:
    """A tensor model: without a pre processor the features feed the inputs by name, with
    their dtypes; with one, the reference rows' test inference checks what it returns."""
    if manifest.processing is not None and manifest.processing.pre is not None:
        return
    given = {s.model_input: ONNX_TYPES[s.dtype or "float32"] for s in manifest.features
             if s.type == "tensor"}
    if manifest.scalar_features:
        given[manifest.input_name] = "tensor(float)"
    wanted = {i.name: str(i.type) for i in inputs}
    if set(given) != set(wanted):
        raise ModelLoadError(
            f"{tag}: the features feed inputs {sorted(given)}, the artifact takes "
            f"{sorted(wanted)} (set each tensor feature's input, or the manifest input_name)"
        )
    for name, kind in given.items():
        if wanted[name] != kind:
            raise ModelLoadError(f"{tag}: input {name!r} is {wanted[name]}, the feature "
                                 f"feeding it is {kind} (change the feature's dtype)")


def _check_tensor(tag: str, what: str, arg: Any, width: int) -> None:
    kind = str(getattr(arg, "type", "tensor(float)"))
    if kind.startswith(("seq(", "map(")):
        raise ModelLoadError(f"{tag}: {what} {arg.name!r} has type {kind}: {ZIPMAP_FIX}")
    if kind != "tensor(float)":
        fix = DTYPE_FIX.format(dtype=kind)
        raise ModelLoadError(f"{tag}: {what} {arg.name!r} is {kind}: {fix}")
    shape = list(arg.shape)
    if len(shape) != 2:
        hint = f"; {ZIPMAP_FIX}" if what == "output" and not shape else ""
        raise ModelLoadError(f"{tag}: {what} must be 2-D, artifact has {shape}{hint}")
    if isinstance(shape[0], int) and shape[0] != -1:
        raise ModelLoadError(
            f"{tag}: {what} {arg.name!r} has a fixed batch size {shape[0]}; "
            + BATCH_FIX.format(name=arg.name, width=width)
        )
    if isinstance(shape[1], int) and shape[1] != width:
        raise ModelLoadError(f"{tag}: {what} width {shape[1]} != manifest {width}")
