"""Load user code named by import path: runtimes, processors and trainers.

Users extend streamapp by naming code (``package.module:attribute``) in a
manifest or a setting, never by editing ours; streamapp's own implementations
are named the same way. Nothing is imported until it is used.
"""

from __future__ import annotations

import importlib
import re

_PATH = re.compile(r"^[A-Za-z_][\w.]*[:.][A-Za-z_][\w.]*$")


class PluginError(ImportError):
    """An import path that cannot be loaded; the message names the path and the fix."""


def valid_import_path(path: str) -> str:
    """Check the shape of ``package.module:attribute`` (or ``package.module.attribute``).

    >>> valid_import_path("streamapp.runtime.onnx:OnnxModel")
    'streamapp.runtime.onnx:OnnxModel'
    """
    if not _PATH.match(path):
        raise ValueError(
            f"{path!r} is not an import path; write it as 'package.module:attribute'"
        )
    return path


def load_object(path: str, what: str) -> object:
    """Import the object ``path`` names; raises :class:`PluginError` saying what failed.

    ``what`` describes the role ("runtime", "pre processor", ...) for the message.
    """
    valid_import_path(path)
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError or anything the module raises at import
        raise PluginError(
            f"{what} {path!r}: cannot import {module_name!r} ({type(exc).__name__}: {exc}); "
            "is the package installed in this environment?"
        ) from exc
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(
                f"{what} {path!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    return obj
