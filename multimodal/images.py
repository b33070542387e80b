"""Turning bytes into a clean RGB cover image, and telling a real cover from a placeholder.

Pillow sniffs the format from the content (a PNG named ``.jpg`` opens as a PNG); we add
EXIF orientation, colour-mode conversion, and limits against decompression bombs.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from multimodal.errors import BadImage

MAX_PIXELS = 50_000_000  # a 7,000 × 7,000 scan is fine; a decompression bomb is not
MAX_SIDE = 20_000
MIN_SIDE = 16
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

ImageSource = str | Path | bytes | Image.Image


def read_bytes(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise BadImage(f"cannot read {source}: {error.strerror or error}") from error


def load_image(source: ImageSource) -> Image.Image:
    """Open an image from a path, bytes or PIL image and return it as 8-bit RGB.

    Raises BadImage with a reason a librarian can act on.
    """
    if isinstance(source, Image.Image):
        return to_rgb(ImageOps.exif_transpose(source) or source)
    data = read_bytes(source)
    if not data:
        raise BadImage("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                raise BadImage(f"image too large ({width}×{height} pixels)")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadImage(f"image refused as a decompression bomb: {error}") from error
    except UnidentifiedImageError as error:
        raise BadImage("not an image (unrecognised content)") from error
    except OSError as error:  # truncated or corrupt data
        raise BadImage(f"corrupt or truncated image: {error}") from error
    image = ImageOps.exif_transpose(image) or image
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode (palette, alpha, CMYK, 16-bit, float) to 8-bit RGB on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255 if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def blank_reason(image: Image.Image) -> str | None:
    """Why this image is not a usable cover (a placeholder), or None when it is one."""
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        return f"placeholder image ({width}×{height} pixels)"
    grey = np.asarray(image.convert("L").resize((64, 64)), dtype=np.float32)
    if grey.std() < 2.0:
        return "blank image (a single flat colour)"
    return None
