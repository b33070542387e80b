"""Image loading: formats sniffed from content, colour modes, EXIF, bombs, blanks."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from multimodal.errors import BadImage
from multimodal.images import blank_reason, load_image


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def gradient(mode: str = "RGB", size=(60, 90)) -> Image.Image:
    array = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3).astype(np.uint8)
    return Image.fromarray(array).convert(mode)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP", "TIFF", "JPEG"])
def test_format_is_sniffed_from_content(tmp_path, fmt):
    path = tmp_path / "cover.jpg"  # the name lies, as in the romance catalog
    path.write_bytes(encoded(gradient(), fmt))
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (60, 90)


def test_cmyk_palette_alpha_and_16bit_become_rgb():
    cmyk = load_image(encoded(Image.new("CMYK", (30, 30), (0, 255, 255, 0)), "JPEG"))
    assert cmyk.mode == "RGB" and cmyk.getpixel((15, 15))[0] > 200  # red stays red
    transparent = Image.new("RGBA", (30, 30), (0, 0, 0, 0))
    assert load_image(encoded(transparent, "PNG")).getpixel((5, 5)) == (255, 255, 255)  # on white
    palette = gradient().convert("P")
    assert load_image(encoded(palette, "PNG")).mode == "RGB"
    deep = Image.fromarray(np.linspace(0, 65535, 900).reshape(30, 30).astype(np.uint16))
    rgb = load_image(encoded(deep, "PNG"))
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (0, 0, 0) and rgb.getpixel((29, 29))[0] == 255


def test_exif_orientation_is_applied():
    image = gradient(size=(60, 90))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    loaded = load_image(encoded(image, "JPEG", exif=exif))
    assert loaded.size == (90, 60)


def test_not_an_image_truncated_and_empty_are_refused():
    with pytest.raises(BadImage, match="not an image"):
        load_image(b"%PDF-1.4 this is a pdf")
    data = encoded(gradient(size=(200, 300)), "JPEG")
    with pytest.raises(BadImage, match=r"truncated|corrupt"):
        load_image(data[: len(data) // 2])
    with pytest.raises(BadImage, match="empty"):
        load_image(b"")


def test_decompression_bomb_is_refused():
    bomb = Image.new("1", (30_000, 30_000))  # 900 megapixels; a few KB as PNG
    with pytest.raises(BadImage, match=r"too large|bomb"):
        load_image(encoded(bomb, "PNG"))


def test_blank_and_placeholder_covers_are_recognised():
    assert blank_reason(Image.new("RGB", (1, 1))) is not None
    assert "flat" in blank_reason(Image.new("RGB", (300, 450), (250, 250, 250)))
    assert blank_reason(gradient(size=(300, 450))) is None
