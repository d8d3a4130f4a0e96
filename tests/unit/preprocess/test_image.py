"""DecodeImages: exact normalised values, layout, grayscale, JPEG draft, bad bytes as
RowErrors (and nothing else), sketch, options, building from context."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, JpegImagePlugin

from streamapp.preprocess.image import IMAGENET_MEAN, IMAGENET_STD, DecodeImages
from streamapp.processing import ProcessorContext, RowErrors, load_callable
from streamapp.registry.manifest import FeatureSpec
from streamapp.schemas import DeadLetterReason

from .conftest import manifest

PATH = "streamapp.preprocess.image:DecodeImages"
COLOUR = (200, 100, 50)


def encode(image: Image.Image, fmt: str, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def solid(size: tuple[int, int] = (64, 48), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    return encode(Image.new(mode, size, COLOUR if mode == "RGB" else 77), fmt)


def gradient(width: int, height: int) -> Image.Image:
    """Red grows along x, green along y, blue constant: catches swapped axes or channels."""
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    rgb = np.stack([x, y, np.full_like(x, 30)], axis=2).round().astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def normalised(value: float, mean: float, std: float) -> np.float32:
    return np.float32((value / 255.0 - mean) / std)


def png_header(width: int, height: int) -> bytes:
    """A PNG that only declares its size (no pixel data): a bomb costs nothing to send."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")


def test_a_solid_png_gives_the_exact_normalised_value() -> None:
    out = DecodeImages("img", [32, 32])({"img": [solid(), solid((10, 10))]})
    assert list(out) == ["input"]
    x = out["input"]
    assert x.dtype == np.float32 and x.shape == (2, 3, 32, 32) and x.flags.c_contiguous
    for c in range(3):
        want = normalised(COLOUR[c], IMAGENET_MEAN[c], IMAGENET_STD[c])
        assert (x[:, c] == want).all()


def test_layout_is_channels_then_height_then_width() -> None:
    image = gradient(80, 60)
    x = DecodeImages("img", [24, 40], input_name="pixels")({"img": [encode(image, "PNG")]})
    ref = np.asarray(image.resize((40, 24), Image.Resampling.BILINEAR), dtype=np.float64)
    want = (ref / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(x["pixels"][0], want.transpose(2, 0, 1), rtol=0, atol=1e-6)


def test_a_jpeg_round_trips_closely() -> None:
    image = gradient(64, 64)
    x = DecodeImages("img", [64, 64], mean=[0, 0, 0], std=[1, 1, 1])(
        {"img": [encode(image, "JPEG", quality=95)]})["input"][0]
    want = np.asarray(image, dtype=np.float64).transpose(2, 0, 1) / 255.0
    assert np.abs(x - want).mean() < 0.01


def test_grayscale_mode_converts_and_uses_half_mean_and_std() -> None:
    colour = solid()
    grey = Image.new("RGB", (1, 1), COLOUR).convert("L").getpixel((0, 0))
    decode = DecodeImages("img", [16, 8], mode="L")
    x = decode({"img": [colour, solid(mode="L")]})["input"]
    assert x.shape == (2, 1, 16, 8)
    assert (x[0] == normalised(grey, 0.5, 0.5)).all()  # type: ignore[arg-type]
    assert (x[1] == normalised(77, 0.5, 0.5)).all()


def test_alpha_and_palette_images_convert() -> None:
    rgba = encode(Image.new("RGBA", (20, 20), (*COLOUR, 0)), "PNG")
    adaptive = Image.new("RGB", (20, 20), COLOUR).convert("P", palette=Image.Palette.ADAPTIVE)
    palette = encode(adaptive, "PNG")
    x = DecodeImages("img", [8, 8])({"img": [rgba, palette]})["input"]
    assert (x[:, 0] == normalised(COLOUR[0], IMAGENET_MEAN[0], IMAGENET_STD[0])).all()


def test_a_large_jpeg_is_drafted_to_a_reduced_size(monkeypatch: pytest.MonkeyPatch) -> None:
    big = encode(Image.new("RGB", (4000, 3000), COLOUR), "JPEG", quality=90)
    sizes: list[tuple[int, int]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, *args: Any) -> Any:
        result = draft(self, *args)
        sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    decode = DecodeImages("img", [32, 32])
    x = decode({"img": [big]})["input"]
    assert sizes == [(500, 375)]  # 1/8 scale: still >= 32 x 32
    for c in range(3):
        want = normalised(COLOUR[c], IMAGENET_MEAN[c], IMAGENET_STD[c])
        assert np.abs(x[0, c] - want).max() < 3 / 255 / IMAGENET_STD[c]
    assert decode.sketch({"img": [big]})["img.aspect"].tolist() == [4000 / 3000]


def test_bad_values_are_row_errors_for_exactly_those_rows() -> None:
    good = solid()
    jpeg = solid(fmt="JPEG")
    values: list[object] = [
        good, b"", b"not an image at all", good[: len(good) // 2], jpeg,
        jpeg[: len(jpeg) - 200], png_header(6000, 5000), png_header(100_000, 100_000),
        "a string", None, bytearray(good), memoryview(good),
    ]
    with pytest.raises(RowErrors) as caught:
        DecodeImages("img", [16, 16])({"img": values})
    errors = caught.value.errors
    assert sorted(errors) == [1, 2, 3, 5, 6, 7, 8, 9]
    assert {reason for reason, _ in errors.values()} == {DeadLetterReason.UNDECODABLE_IMAGE}
    detail = {row: d for row, (_, d) in errors.items()}
    assert detail[1] == "empty value (0 bytes)"
    assert "not an image format" in detail[2] and "b'not an i'" in detail[2]
    assert "truncated" in detail[5].lower() or "Truncated" in detail[5]
    assert "6000x5000" in detail[6] and "decompression bomb" in detail[6]
    assert "DecompressionBomb" in detail[7]
    assert detail[8] == "expected image bytes, got str"


def test_the_pixel_limit_is_an_option() -> None:
    with pytest.raises(RowErrors) as caught:
        DecodeImages("img", [8, 8], max_pixels=1000)({"img": [solid((10, 10)), solid()]})
    assert list(caught.value.errors) == [1]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_bytes_raise_row_errors_or_nothing(data: st.DataObject) -> None:
    originals = [solid((12, 9)), solid((12, 9), "JPEG"), encode(gradient(9, 7), "GIF"),
                 encode(gradient(9, 7), "BMP"), encode(gradient(9, 7), "WEBP")]
    value = bytearray(data.draw(st.sampled_from(originals)))
    cut = data.draw(st.integers(0, len(value)))
    for _ in range(data.draw(st.integers(0, 4))):
        value[data.draw(st.integers(0, len(value) - 1))] = data.draw(st.integers(0, 255))
    values = [bytes(value[:cut]), data.draw(st.binary(max_size=64)), originals[0]]
    try:
        out = DecodeImages("img", [6, 5])({"img": values})
    except RowErrors as e:
        assert set(e.errors) <= {0, 1}
    else:
        assert out["input"].shape == (3, 3, 6, 5) and np.isfinite(out["input"]).all()


def test_sketch_per_channel_moments_and_aspect_nan_for_bad_rows() -> None:
    decode = DecodeImages("img", [16, 16])
    sketch = decode.sketch({"img": [solid((64, 48)), b"junk", encode(gradient(30, 60), "PNG")]})
    assert set(sketch) == {f"img.{s}_{c}" for s in ("mean", "std") for c in range(3)} | {
        "img.aspect"}
    assert all(v.dtype == np.float64 and v.shape == (3,) for v in sketch.values())
    for c in range(3):
        want = float(normalised(COLOUR[c], IMAGENET_MEAN[c], IMAGENET_STD[c]))
        assert sketch[f"img.mean_{c}"][0] == pytest.approx(want)
        assert sketch[f"img.std_{c}"][0] == 0
        assert np.isnan(sketch[f"img.mean_{c}"][1]) and np.isnan(sketch[f"img.std_{c}"][1])
    assert sketch["img.std_0"][2] > 0 and sketch["img.std_2"][2] == 0
    assert sketch["img.aspect"][[0, 2]].tolist() == [64 / 48, 0.5]
    assert np.isnan(sketch["img.aspect"][1])


def test_grayscale_sketch_has_one_channel() -> None:
    sketch = DecodeImages("img", [8, 8], mode="L").sketch({"img": [solid()]})
    assert sorted(sketch) == ["img.aspect", "img.mean_0", "img.std_0"]


def test_an_empty_batch() -> None:
    assert DecodeImages("img", [8, 4])({"img": []})["input"].shape == (0, 3, 8, 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": [32]},
        {"size": [0, 32]},
        {"size": [32.0, 32]},
        {"mode": "CMYK"},
        {"mean": [0.5]},
        {"mode": "L", "std": [0.5, 0.5, 0.5]},
        {"std": [1, 0, 1]},
        {"max_pixels": 0},
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"size": [32, 32], **kwargs}
    with pytest.raises(ValueError):
        DecodeImages("img", **args)


def context(options: dict[str, object], features: list[FeatureSpec] | None = None
            ) -> ProcessorContext:
    specs = features or [FeatureSpec(name="photo", type="bytes", media="image"),
                         FeatureSpec(name="n", type="numeric")]
    return ProcessorContext(manifest(specs, PATH, options), {}, options)


def test_load_callable_builds_it_from_context() -> None:
    options: dict[str, object] = {
        "size": [12, 20], "mode": "L", "mean": [0.25], "std": [0.5], "input": "image"
    }
    pre = load_callable(PATH, "pre processor", context(options))
    assert isinstance(pre, DecodeImages) and pre.feature == "photo"
    x = pre({"photo": [solid(mode="L")]})["image"]
    assert x.shape == (1, 1, 12, 20) and (x == normalised(77, 0.25, 0.5)).all()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "needs option size"),
        ({"size": "32x32"}, "size"),
        ({"size": [8, 8], "mode": 3}, "mode"),
        ({"size": [8, 8], "feature": "n"}, "not a bytes image feature"),
    ],
)
def test_from_context_rejects_bad_options(options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DecodeImages.from_context(context(options))


def test_from_context_needs_one_image_feature_or_a_name() -> None:
    two = [FeatureSpec(name="front", type="bytes", media="image"),
           FeatureSpec(name="back", type="bytes", media="image")]
    with pytest.raises(ValueError, match="2 bytes image features"):
        DecodeImages.from_context(context({"size": [8, 8]}, two))
    pre = DecodeImages.from_context(context({"size": [8, 8], "feature": "back"}, two))
    assert pre.feature == "back"
