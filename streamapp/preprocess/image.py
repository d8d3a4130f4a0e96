"""Image bytes → a normalised float32 ``(n, C, H, W)`` model input, decoded with Pillow.

Each value is opened lazily (header only), rejected when over ``max_pixels`` before any
pixel is decoded, drafted (JPEG: the decoder's 1/2, 1/4 or 1/8 scale closest above the
target size), converted to ``mode`` (alpha dropped, palettes expanded), resized bilinearly
to ``size`` (aspect ratio not kept) and normalised per channel, ``(v / 255 - mean) / std``,
by a 256-entry table (float32 of the exact value). Relies on Pillow's default
``ImageFile.LOAD_TRUNCATED_IMAGES = False``: a truncated file is undecodable.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from streamapp.preprocess.common import Batch, option, pick_feature
from streamapp.processing import ModelInputs, ProcessorContext, RowErrors
from streamapp.registry.manifest import FeatureSpec
from streamapp.schemas import DeadLetterReason

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_MAX_PIXELS = 25_000_000
"""Largest width x height decoded (a 5000 x 5000 photo, 75 MB as RGB); more is a
decompression bomb and dead-lettered. Pillow's own limit (``Image.MAX_IMAGE_PIXELS``,
89 MP warns, 179 MP raises) is left as it is and only warns above ours."""
CHANNELS = {"RGB": 3, "L": 1}


class Undecodable(ValueError):
    """One value that is not a usable image (its detail is the dead letter's)."""


class DecodeImages:
    """Pre processor: one ``bytes`` image feature → ``{input_name: float32 (n, C, H, W)}``.
    Construction raises ``ValueError`` on bad options; a call raises :class:`RowErrors`
    (``UNDECODABLE_IMAGE`` for every bad row of the batch at once) and nothing else."""

    def __init__(
        self,
        feature: str,
        size: Sequence[int],
        *,
        mode: str = "RGB",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        input_name: str = "input",
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if mode not in CHANNELS:
            raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
        if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                     for s in size):
            raise ValueError(f"size must be [height, width], positive ints; got {size!r}")
        channels = CHANNELS[mode]
        rgb = mode == "RGB"
        mean = (IMAGENET_MEAN if rgb else (0.5,)) if mean is None else tuple(mean)
        std = (IMAGENET_STD if rgb else (0.5,)) if std is None else tuple(std)
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise ValueError(f"mode {mode} needs {channels} mean and {channels} positive std "
                             f"values; got mean={mean}, std={std}")
        if not isinstance(max_pixels, int) or max_pixels < 1:
            raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}")
        self.feature = feature
        self.height, self.width = int(size[0]), int(size[1])
        self.mode = mode
        self.channels = channels
        self.input_name = input_name
        self.max_pixels = max_pixels
        values = np.arange(256, dtype=np.float64) / 255.0
        self._table = ((values[None, :] - np.asarray(mean)[:, None])
                       / np.asarray(std)[:, None]).astype(np.float32)  # (C, 256)

    @classmethod
    def from_context(cls, ctx: ProcessorContext) -> DecodeImages:
        """Build from ``processing.options``; raises ``ValueError`` (bad or missing ``size``,
        bad options, no single image feature)."""
        o = ctx.options
        feature = pick_feature(ctx.manifest, o.get("feature"), _is_image, "bytes image")
        size = option(o, "size", list, None)
        if size is None:
            raise ValueError("DecodeImages needs option size: [height, width]")
        return cls(
            feature,
            size,
            mode=option(o, "mode", str, "RGB"),
            mean=option(o, "mean", list, None),
            std=option(o, "std", list, None),
            input_name=option(o, "input", str, "input"),
            max_pixels=option(o, "max_pixels", int, DEFAULT_MAX_PIXELS),
        )

    def __call__(self, columns: Batch) -> ModelInputs:
        """The batch's images; raises :class:`RowErrors` naming every undecodable row."""
        pixels, _, errors = self._decode_all(columns[self.feature])
        if errors:
            raise RowErrors({
                row: (DeadLetterReason.UNDECODABLE_IMAGE, detail) for row, detail in errors.items()
            })
        return {self.input_name: self._normalise(pixels)}

    def sketch(self, columns: Batch) -> dict[str, npt.NDArray[np.float64]]:
        """Per row, float64: ``{feature}.mean_{c}`` and ``{feature}.std_{c}`` of channel
        ``c``'s normalised pixels, ``{feature}.aspect`` (original width / height); NaN for
        an undecodable row. Raises nothing for bad rows."""
        pixels, aspect, errors = self._decode_all(columns[self.feature])
        flat = self._normalise(pixels).reshape(len(pixels), self.channels, -1)
        means, stds = flat.mean(axis=2, dtype=np.float64), flat.std(axis=2, dtype=np.float64)
        bad = np.fromiter(errors, dtype=np.int64, count=len(errors))
        means[bad], stds[bad] = np.nan, np.nan
        out = {f"{self.feature}.mean_{c}": means[:, c] for c in range(self.channels)}
        out |= {f"{self.feature}.std_{c}": stds[:, c] for c in range(self.channels)}
        out[f"{self.feature}.aspect"] = aspect
        return out

    def decode(self, value: object) -> tuple[npt.NDArray[np.uint8], float]:
        """One value → uint8 ``(H, W, C)`` pixels and its original width / height; raises
        :class:`Undecodable` with the reason, whatever Pillow raised."""
        if not isinstance(value, bytes | bytearray | memoryview):
            raise Undecodable(f"expected image bytes, got {type(value).__name__}")
        if len(value) == 0:
            raise Undecodable("empty value (0 bytes)")
        try:
            with Image.open(io.BytesIO(value)) as im:
                width, height = im.size
                if width * height > self.max_pixels:
                    raise Undecodable(f"{im.format} of {width}x{height} pixels is over the "
                                      f"limit of {self.max_pixels} (decompression bomb)")
                if width == 0 or height == 0:
                    raise Undecodable(f"{im.format} of {width}x{height} pixels is empty")
                if im.format == "JPEG":
                    im.draft(self.mode, (self.width, self.height))
                out = im if im.mode == self.mode else im.convert(self.mode)
                if out.size != (self.width, self.height):
                    out = out.resize((self.width, self.height), Image.Resampling.BILINEAR)
                pixels = np.asarray(out, dtype=np.uint8)
        except Undecodable:
            raise
        except UnidentifiedImageError as e:
            raise Undecodable(f"not an image format Pillow reads ({len(value)} bytes "
                              f"starting {bytes(value[:8])!r})") from e
        except Exception as e:  # Pillow's plugins raise OSError, SyntaxError, EOFError, ...
            raise Undecodable(f"{type(e).__name__}: {e}") from e
        return pixels.reshape(self.height, self.width, self.channels), width / height

    def _decode_all(self, values: Sequence[Any] | npt.NDArray[Any]
                    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float64], dict[int, str]]:
        """uint8 ``(n, H, W, C)`` (zeros for bad rows), aspects (NaN for bad), bad → detail."""
        n = len(values)
        pixels = np.zeros((n, self.height, self.width, self.channels), dtype=np.uint8)
        aspect = np.full(n, np.nan)
        errors: dict[int, str] = {}
        for row, value in enumerate(values):
            try:
                pixels[row], aspect[row] = self.decode(value)
            except Undecodable as e:
                errors[row] = str(e)
        return pixels, aspect, errors

    def _normalise(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """uint8 ``(n, H, W, C)`` → normalised float32 ``(n, C, H, W)``."""
        planes = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))
        out = np.empty(planes.shape, dtype=np.float32)
        for c in range(self.channels):
            out[:, c] = self._table[c][planes[:, c]]
        return out


def _is_image(spec: FeatureSpec) -> bool:
    return spec.type == "bytes" and spec.media == "image"
