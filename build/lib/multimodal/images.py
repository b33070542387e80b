"""Turning bytes into a clean RGB cover image, and telling a real cover from a placeholder.

Pillow sniffs the format from the content (a PNG named ``.jpg`` opens as a PNG); we add
EXIF orientation, colour-mode conversion, and limits against decompression bombs and memory
amplification:

- Limits depend on the purpose (``load_image(source, purpose="query")``, the default, or
  ``"ingest"``). A search photo comes from anyone, so it gets a lower pixel cap than a catalog
  cover. The cap counts the pixels that will really be decoded: a JPEG is decoded at 1/2, 1/4 or
  1/8 scale when that still covers the purpose's working size (``Image.draft``), so a 48-megapixel
  phone JPEG is accepted as a query while a 49-megapixel PNG (143 KB of zeros) is not.
- At most ``DECODE_SLOTS`` images are decoded at once in a process (concurrent uploads wait for a
  slot instead of each holding a full-size bitmap), a decoded image larger than the working size
  is shrunk inside its slot, so what a caller keeps is small, and after a query decode the freed
  heap is handed back to the system (``benchmarks/upload_memory.py`` measures all this).
- A truncated file is decoded as far as its data goes (Pillow's truncated-image loading) and
  reported as truncated (``DecodedImage.truncated``); ingest flags such covers. Pillow's switch for
  that is process-wide, so a lenient decode waits for the other decodes to finish and runs alone.
"""

from __future__ import annotations

import ctypes
import io
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from multimodal.errors import BadImage

MAX_PIXELS = 50_000_000  # a 7,000 × 7,000 scan is fine for a catalog cover; a decompression bomb is not
MAX_SIDE = 20_000
MIN_SIDE = 16
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
DECODE_SLOTS = max(2, os.cpu_count() or 2)

ImageSource = str | Path | bytes | Image.Image
Purpose = Literal["query", "ingest"]


@dataclass(frozen=True)
class ImageLimits:
    """What one purpose accepts: pixels actually decoded, and the longest side a caller keeps."""

    max_pixels: int
    working_side: int | None  # larger images are shrunk to this longest side (None: kept as decoded)
    trim: bool = False  # hand freed heap back after each decode (ingest does it once per chunk instead)


# A query photo needs no more than a few megapixels (the models look at 224 pixels, OCR at ~2,000);
# a catalog cover is kept as it is (the content hash and perceptual hash are made from it).
LIMITS: dict[str, ImageLimits] = {
    "query": ImageLimits(max_pixels=16_000_000, working_side=3000, trim=True),
    "ingest": ImageLimits(max_pixels=MAX_PIXELS, working_side=None),
}


@dataclass
class DecodedImage:
    image: Image.Image  # 8-bit RGB, EXIF orientation applied
    truncated: bool = False  # the file ended early; the missing part is filled in


class DecodeSlots:
    """At most ``count`` decodes at once; ``alone()`` waits until no other decode runs and keeps them out."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.busy = 0
        self.exclusive = False
        self.changed = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self.changed:
            self.changed.wait_for(lambda: self.busy < self.count and not self.exclusive)
            self.busy += 1
        try:
            yield
        finally:
            with self.changed:
                self.busy -= 1
                self.changed.notify_all()

    @contextmanager
    def alone(self) -> Iterator[None]:
        with self.changed:
            self.changed.wait_for(lambda: not self.exclusive)
            self.exclusive = True
            self.changed.wait_for(lambda: self.busy == 0)
        try:
            yield
        finally:
            with self.changed:
                self.exclusive = False
                self.changed.notify_all()


decode_slots = DecodeSlots(DECODE_SLOTS)


def read_bytes(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise BadImage(f"cannot read {source}: {error.strerror or error}") from error


def load_image(source: ImageSource, purpose: Purpose = "query") -> Image.Image:
    """Open an image from a path, bytes or PIL image and return it as 8-bit RGB.

    Raises BadImage with a reason a librarian can act on.
    """
    return decode_image(source, purpose).image


def decode_image(source: ImageSource, purpose: Purpose = "query") -> DecodedImage:
    """Like :func:`load_image`, and says whether the file was truncated (decoded as far as it goes)."""
    limits = LIMITS[purpose]
    if isinstance(source, Image.Image):
        return DecodedImage(shrink(to_rgb(ImageOps.exif_transpose(source) or source), limits))
    data = read_bytes(source)
    if not data:
        raise BadImage("empty file")
    try:
        with decode_slots.slot():  # the full-size bitmap exists only inside a slot
            decoded = DecodedImage(finish(open_within(data, limits), limits))
            if limits.trim:
                release_free_memory()
            return decoded
    except (SyntaxError, ValueError, EOFError) as error:  # Pillow's other ways of saying "corrupt"
        raise BadImage(f"corrupt image: {error}") from error
    except OSError as error:
        if not is_truncation(error):
            raise BadImage(f"corrupt image: {error}") from error
    with decode_slots.alone():  # decoded again, as far as the data goes
        return DecodedImage(load_leniently(data, limits), truncated=True)


def release_free_memory() -> None:
    """Hand the heap memory freed since the last call back to the operating system (glibc's malloc_trim).

    A decode allocates and frees tens of megabytes; glibc keeps freed pages in per-thread arenas,
    so concurrent decodes in many threads (a web server's) would leave the process large although
    nothing is kept. Ingest calls it once per chunk (without it the job's resident size crept from
    1.54 GB at 1,000 books to 2.08 GB at 10,000: docs/ingest.md). Elsewhere than glibc it does nothing.
    """
    with suppress(AttributeError, OSError, TypeError):
        ctypes.CDLL(None).malloc_trim(0)


def finish(image: Image.Image, limits: ImageLimits) -> Image.Image:
    """Decoded, upright, 8-bit RGB and no larger than the purpose's working size."""
    image.load()
    return shrink(to_rgb(ImageOps.exif_transpose(image) or image), limits)


def open_within(data: bytes, limits: ImageLimits) -> Image.Image:
    """The image, not yet decoded, set to decode at the smallest scale that serves ``limits``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadImage(f"image refused as a decompression bomb: {error}") from error
    except UnidentifiedImageError as error:
        raise BadImage("not an image (unrecognised content)") from error
    width, height = image.size
    if max(width, height) > MAX_SIDE:
        raise BadImage(f"image too large ({width}×{height} pixels)")
    if limits.working_side and image.format == "JPEG" and max(width, height) > limits.working_side:
        scale = limits.working_side / max(width, height)
        image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
    decoded_width, decoded_height = image.size
    if decoded_width * decoded_height > limits.max_pixels:
        raise BadImage(
            f"image too large ({width}×{height} pixels; the limit is {limits.max_pixels / 1e6:g} megapixels)"
        )
    return image


def is_truncation(error: OSError) -> bool:
    return "truncated" in str(error)


def load_leniently(data: bytes, limits: ImageLimits) -> Image.Image:
    """Decode a truncated file as far as its data goes (Pillow's process-wide switch; the caller runs alone)."""
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        return finish(open_within(data, limits), limits)
    except OSError as error:
        raise BadImage(f"corrupt or truncated image: {error}") from error
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def shrink(image: Image.Image, limits: ImageLimits) -> Image.Image:
    """The image with its longest side at most the purpose's working side (aspect kept)."""
    if limits.working_side and max(image.size) > limits.working_side:
        image.thumbnail((limits.working_side, limits.working_side), Image.Resampling.LANCZOS)
    return image


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
