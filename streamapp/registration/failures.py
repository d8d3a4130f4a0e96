"""One line for a converter that failed: the root cause and what to do.

skl2onnx and onnxmltools report a failure as a chain of exceptions whose outer
messages repeat the whole node being built: tens of thousands of lines for a
tree ensemble. The innermost exception says what went wrong.
:func:`conversion_error` keeps that one, cut to one line, and adds the fix for
the causes listed in :data:`KNOWN`, else the general way out.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from streamapp.registration.frame import RegistrationError

MAX_DETAIL = 240
"""Characters of the root cause's message kept in the one line."""
MAX_CHAINED = 2000
"""Longest root-cause message still chained to the error (shown in a traceback)."""
GENERAL_FIX = (
    "export the model to ONNX yourself (one float32 input, zipmap=False) and register the "
    ".onnx file, or move the step the converter rejects into a pre processor "
    "(docs/models.md#model-families)"
)


def _protobuf_rejects_bool() -> str:
    return (
        f"skl2onnx {_version('skl2onnx')} writes a boolean into an integer ONNX attribute, "
        f"which protobuf {_version('protobuf')} rejects (protobuf 6 only warned): "
        "pip install 'protobuf<7' (the register extra's bound); exporting the ONNX file "
        "yourself hits the same bug unless protobuf<7 is installed where you export"
    )


def _no_converter() -> str:
    return (
        "the converter does not know this estimator: register a converter for it with "
        "skl2onnx.update_registered_converter before calling register(), or move the "
        "custom step into a pre processor (docs/models.md#model-families)"
    )


def _old_onnxmltools() -> str:
    return (
        f"onnxmltools {_version('onnxmltools')} cannot read the base_score that xgboost "
        f"{_version('xgboost', 'xgboost-cpu')} writes: pip install 'onnxmltools>=1.15'"
    )


KNOWN: tuple[tuple[str, Callable[[], str]], ...] = (
    ("Expected an int, got a boolean", _protobuf_rejects_bool),
    ("could not convert string to float: '[", _old_onnxmltools),
    ("Unable to find a shape calculator", _no_converter),
    ("Unable to find a converter", _no_converter),
)
"""(text of the root cause, the fix) for the failures seen in practice."""


def conversion_error(estimator: str, converter: str, exc: BaseException) -> RegistrationError:
    """The one-line error for ``exc``, raised while ``converter`` converted ``estimator``.

    >>> try:
    ...     try:
    ...         raise TypeError("Expected an int, got a boolean.")
    ...     except TypeError as inner:
    ...         raise ValueError("Unable to create node: {\\n" + "0,\\n" * 9) from inner
    ... except ValueError as outer:
    ...     message = str(conversion_error("HistGradientBoostingRegressor", "skl2onnx", outer))
    >>> "\\n" in message, message.split(": ")[1]
    (False, 'TypeError')
    """
    root = root_cause(exc)
    text = str(root)
    fix = next((make() for needle, make in KNOWN if needle in text), GENERAL_FIX)
    detail = one_line(f"{type(root).__name__}: {text}", MAX_DETAIL)
    return RegistrationError(
        f"cannot convert {estimator} to ONNX with {converter} {_version(converter)}: "
        f"{detail}; {fix}"
    )


def import_error(module: str, converter: str, exc: ImportError) -> RegistrationError:
    """The converter is missing (install the extra) or does not import (upgrade it)."""
    if isinstance(exc, ModuleNotFoundError):
        return RegistrationError(
            f"converting a {module} model needs the register extra: "
            f"pip install 'streamapp[register]' ({exc})"
        )
    return RegistrationError(
        f"{converter} {_version(converter)} does not import with onnx {_version('onnx')} "
        f"({one_line(str(exc), MAX_DETAIL)}): pip install --upgrade 'streamapp[register]' "
        "(skl2onnx>=1.19.1, onnxmltools>=1.15)"
    )


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of ``exc``'s cause / context chain."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def readable_cause(exc: BaseException) -> BaseException | None:
    """The root cause to chain to the one-line error, if its message is short enough to show
    in a traceback (None: chain nothing; the one line already carries its first line)."""
    root = root_cause(exc)
    return root if len(str(root)) <= MAX_CHAINED else None


def one_line(text: str, limit: int) -> str:
    """The first line of ``text``, at most ``limit`` characters.

    >>> one_line("bad node {\\n 'a': [1,\\n 2]}", 40), one_line("x" * 10, 6)
    ('bad node {', 'xxxxx…')
    """
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _version(*distributions: str) -> str:
    """The installed version of the first of ``distributions`` that is installed."""
    for name in distributions:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            continue
    return "(not installed)"


def within_tolerance(expected: npt.NDArray[np.generic], served: npt.NDArray[np.float32],
                     tol: float, fix: str) -> float:
    """The largest |source - artifact| on the reference rows; raises
    :class:`RegistrationError` naming ``fix`` when it is above ``tol``."""
    diff = float(np.abs(expected - served.astype(np.float64)).max(initial=0.0))
    if not diff <= tol:
        raise RegistrationError(
            f"the artifact's outputs differ from the source model's by up to {diff:.3g} "
            f"(tolerance {tol:g}) on the reference rows; {fix}, or raise the tolerance "
            "knowingly"
        )
    return diff
