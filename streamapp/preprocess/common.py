"""What the processors share: the batch's column type, reading manifest options."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy.typing as npt

from streamapp.registry.manifest import FeatureSpec, Manifest

Batch = Mapping[str, Sequence[Any] | npt.NDArray[Any]]
"""A tensor model's feature columns as ``pre`` gets them (text: ``str`` values, bytes:
``bytes`` values; a list or a 1-D object array)."""


def pick_feature(
    manifest: Manifest, name: object, fits: Callable[[FeatureSpec], bool], what: str
) -> str:
    """The feature named by option ``feature`` (must exist and fit), else the manifest's only
    feature that fits; raises ``ValueError`` when it is missing, unfit or ambiguous."""
    candidates = [f.name for f in manifest.features if fits(f)]
    if name is not None:
        if name not in candidates:
            raise ValueError(f"option feature={name!r} is not a {what} feature of the manifest "
                             f"(its {what} features: {candidates})")
        return str(name)
    if len(candidates) != 1:
        raise ValueError(f"the manifest has {len(candidates)} {what} features {candidates}; "
                         "name one with option 'feature'")
    return candidates[0]


def option(
    options: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any
) -> Any:
    """``options[key]`` (``default`` when absent or null); raises ``ValueError`` when it is
    not of ``kind`` (a bool is not an int here).

    >>> option({"n": 3}, "n", int, 1), option({}, "n", int, 1)
    (3, 1)
    """
    value = options.get(key)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ValueError(f"option {key}={value!r} must be {names}")
    return value
