"""Feature columns: a batch's raw ``features`` JSON objects → the float32 model matrix.

Fast path, no per-event dict: one typed ``msgspec`` decode of the newline-joined
objects into a struct derived from the manifest (numeric → ``float``, small
integer categories → ``int``, unknown fields forbidden), one C-level
``attrgetter`` pass into a float64 matrix (``np.fromiter``), then
:meth:`~streamapp.features.FeatureEncoder.encode_values` (numpy checks and
category codes). Rows those checks reject are re-encoded one by one from their
dict, so they get the training code path's reason. A batch the typed decode
cannot vouch for (a value missing, null, extra or of another type anywhere)
goes through :meth:`~streamapp.features.FeatureEncoder.encode_batch` on dicts
from one ``msgspec`` call. Never raises for bad values.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from streamapp.features import FeatureEncoder, FeatureError

Encoded = tuple[np.ndarray[Any, np.dtype[np.float32]], list[int], list[tuple[int, FeatureError]]]
"""``(float32 matrix, input row of each matrix row, (input row, error) of each reject)``."""
JsonText = bytes | msgspec.Raw
"""JSON text: bytes, or a slice of a decoded value kept by ``msgspec`` (a buffer)."""
_DICTS: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(dict[str, Any])


def feature_struct(names: Sequence[str], types: Sequence[type]) -> type[msgspec.Struct]:
    """A struct with one field per feature (``f0``, ``f1``, …, renamed to the feature names).

    >>> S = feature_struct(["a-b", "c"], [float, int])
    >>> msgspec.json.decode(b'{"c": 2, "a-b": 1}', type=S)
    Features(f0=1.0, f1=2)
    """
    fields = [(f"f{i}", t) for i, t in enumerate(types)]
    rename = {f"f{i}": name for i, name in enumerate(names)}
    return msgspec.defstruct("Features", fields, rename=rename, forbid_unknown_fields=True,
                             gc=False)


class FeatureColumns:
    """Encodes the raw feature objects of a batch for one manifest's encoder."""

    def __init__(self, encoder: FeatureEncoder) -> None:
        self.encoder = encoder
        self.width = len(encoder.names)
        types = encoder.vector_types()
        self._typed: msgspec.json.Decoder[Any] | None = None
        if types is not None and self.width:
            self._typed = msgspec.json.Decoder(feature_struct(encoder.names, types))
            self._values = attrgetter(*(f"f{i}" for i in range(self.width)))

    def encode(self, raws: Sequence[JsonText]) -> Encoded | None:
        """Encode ``raws`` (JSON texts without newlines); None if one is not a JSON object."""
        joined = b"\n".join(raws)
        if self._typed is not None:
            try:
                structs = self._typed.decode_lines(joined)
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass
            else:
                return self._from_structs(structs, raws)
        try:
            dicts = _DICTS.decode_lines(joined)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        return self.encoder.encode_batch(dicts) if len(dicts) == len(raws) else None

    def _from_structs(self, structs: list[Any], raws: Sequence[JsonText]) -> Encoded:
        n, width = len(structs), self.width
        flat = chain.from_iterable(map(self._values, structs)) if width > 1 else map(
            self._values, structs)
        values = np.fromiter(flat, np.float64, n * width).reshape(n, width)
        matrix, bad = self.encoder.encode_values(values)
        if not bad:
            return self.encoder.finish(matrix, list(range(n)), ())
        rejected = set(bad)
        order = [i for i in range(n) if i not in rejected]
        dicts = ((i, _DICTS.decode(raws[i])) for i in bad)
        return self.encoder.finish(matrix, order, dicts)
