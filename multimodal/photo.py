"""A reader's phone photo of a cover, simulated: what cover identification is evaluated on.

Starting from the catalog's cover image, ``phone_photo`` applies, in the order a real photo
suffers them, with random amounts drawn from a seeded generator:

1. upscale to phone size (about 1,000 px tall);
2. framing: up to 10% of the width and of the height cut off, split between the two sides;
3. the cover lying on a table, photographed tilted: rotation by up to ±10° over a plain background;
4. the phone not parallel to the cover: a perspective warp moving each corner by up to 6%;
5. focus and light: Gaussian blur, brightness and contrast changes;
6. JPEG compression at quality 40–70.

The same cover and seed always give the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


@dataclass(frozen=True)
class PhotoConditions:
    """The ranges the random amounts are drawn from (uniformly)."""

    height: tuple[int, int] = (900, 1100)
    crop: float = 0.10  # at most this fraction of each dimension is cut off
    rotation: float = 10.0  # degrees, either way
    perspective: float = 0.06  # corner displacement, as a fraction of the side
    blur: tuple[float, float] = (0.0, 1.5)  # Gaussian radius in pixels, at phone size
    brightness: tuple[float, float] = (0.7, 1.3)
    contrast: tuple[float, float] = (0.7, 1.3)
    jpeg_quality: tuple[int, int] = (40, 70)


def phone_photo(cover: Image.Image, seed: int, conditions: PhotoConditions = PhotoConditions()) -> bytes:
    """JPEG bytes of a simulated phone photo of ``cover``; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    image = upscale(cover.convert("RGB"), int(rng.integers(*conditions.height, endpoint=True)))
    image = crop_edges(image, rng, conditions.crop)
    background = tuple(int(value) for value in rng.integers(30, 226, size=3))
    image = image.rotate(
        rng.uniform(-conditions.rotation, conditions.rotation),
        resample=Image.BICUBIC,
        expand=True,
        fillcolor=background,
    )
    image = warp_perspective(image, rng, conditions.perspective, background)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*conditions.blur)))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(*conditions.brightness))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(*conditions.contrast))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(*conditions.jpeg_quality, endpoint=True)))
    return buffer.getvalue()


def upscale(image: Image.Image, height: int) -> Image.Image:
    width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.BICUBIC)


def crop_edges(image: Image.Image, rng: np.random.Generator, most: float) -> Image.Image:
    """Cut off up to ``most`` of each dimension, split at random between its two sides."""
    width, height = image.size
    cut_x, cut_y = rng.uniform(0, most) * width, rng.uniform(0, most) * height
    left, top = rng.uniform(0, 1) * cut_x, rng.uniform(0, 1) * cut_y
    return image.crop((round(left), round(top), round(width - (cut_x - left)), round(height - (cut_y - top))))


def warp_perspective(
    image: Image.Image, rng: np.random.Generator, most: float, background: tuple[int, ...]
) -> Image.Image:
    """Move each corner inwards or outwards by up to ``most`` of the side, keeping the frame size."""
    width, height = image.size
    corners = np.array([(0, 0), (width, 0), (width, height), (0, height)], dtype=np.float64)
    moved = corners + rng.uniform(-most, most, size=(4, 2)) * (width, height)
    return image.transform(
        image.size,
        Image.PERSPECTIVE,
        perspective_coefficients(moved, corners),
        resample=Image.BICUBIC,
        fillcolor=background,
    )


def perspective_coefficients(output: np.ndarray, source: np.ndarray) -> list[float]:
    """PIL's 8 coefficients mapping each output pixel back to where it is taken from in the source."""
    rows = []
    for (x, y), (u, v) in zip(output, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return np.linalg.solve(np.array(rows), source.reshape(8)).tolist()
