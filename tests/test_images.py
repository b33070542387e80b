"""Image loading: formats sniffed from content, colour modes, EXIF, bombs, blanks."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import SHARED_DATA, needs_shared_data
from PIL import Image, ImageFile

from multimodal.errors import BadImage
from multimodal.images import LIMITS, blank_reason, decode_image, load_image


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


def test_not_an_image_corrupt_and_empty_are_refused():
    with pytest.raises(BadImage, match="not an image"):
        load_image(b"%PDF-1.4 this is a pdf")
    data = encoded(gradient(size=(200, 300)), "WEBP")
    with pytest.raises(BadImage, match="corrupt"):
        load_image(data[: len(data) // 2])
    with pytest.raises(BadImage, match="empty"):
        load_image(b"")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_truncated_file_is_decoded_as_far_as_it_goes_and_said_so(fmt):
    image = gradient(size=(200, 300))
    data = encoded(image, fmt)
    whole = decode_image(data, "ingest")
    assert not whole.truncated
    cut = decode_image(data[: len(data) * 3 // 4], "ingest")
    assert cut.truncated and cut.image.size == (200, 300) and cut.image.mode == "RGB"
    top = np.asarray(cut.image)[:60].astype(int)  # the part the data covered is the picture itself
    assert np.abs(top - np.asarray(whole.image)[:60].astype(int)).mean() < 3


def test_a_truncated_file_does_not_make_other_decodes_lenient():
    """Pillow's truncated-image switch is process-wide: a lenient decode must not let another pass unflagged."""
    data = encoded(gradient(size=(400, 600)), "PNG")
    cut = data[: len(data) // 2]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: decode_image(cut, "ingest").truncated, range(40)))
    assert all(results)
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


@needs_shared_data
@pytest.mark.parametrize("isbn", ["9781420132830", "9781601835475", "9781648980091", "9781728217192"])
def test_real_truncated_romance_covers_are_decoded(isbn):
    path = SHARED_DATA / "romance-covers" / "images" / f"img_{isbn}.jpg"
    decoded = decode_image(path, "ingest")
    assert decoded.truncated and min(decoded.image.size) > 1000
    assert blank_reason(decoded.image) is None  # a real picture, not a grey fill


def test_decompression_bomb_is_refused():
    bomb = Image.new("1", (30_000, 30_000))  # 900 megapixels; a few KB as PNG
    with pytest.raises(BadImage, match=r"too large|bomb"):
        load_image(encoded(bomb, "PNG"))


def test_blank_and_placeholder_covers_are_recognised():
    assert blank_reason(Image.new("RGB", (1, 1))) is not None
    assert "flat" in blank_reason(Image.new("RGB", (300, 450), (250, 250, 250)))
    assert blank_reason(gradient(size=(300, 450))) is None


def test_a_small_file_of_many_pixels_is_refused_as_a_query_but_not_as_a_cover():
    huge = encoded(Image.new("L", (7000, 7000)), "PNG")  # ~150 KB that decodes to 147 MB of RGB
    assert len(huge) < 300_000
    with pytest.raises(BadImage, match="megapixels"):
        load_image(huge)  # a search photo (the default purpose)
    assert load_image(huge, purpose="ingest").size == (7000, 7000)


def test_a_large_query_jpeg_is_decoded_at_reduced_scale():
    photo = encoded(gradient(size=(8000, 6000)), "JPEG", quality=50)  # 48 megapixels, as some phones take
    image = load_image(photo)
    assert max(image.size) == LIMITS["query"].working_side and image.size[0] > image.size[1]
    assert load_image(encoded(gradient(size=(1800, 2700)), "JPEG")).size == (1800, 2700)  # a cover is kept whole
