"""Perceptual fingerprints of covers: no model weights, robust to photos of a cover.

- ``perceptual_vector``: a small unit vector (a contrast-normalised 16×16 thumbnail plus an
  HSV colour histogram) that Chroma can search by cosine similarity. It looks at the central 80%
  of the image, blurred: a phone photo of a cover is cropped by the framing, tilted and in
  perspective, so its edges show the table and its fine detail never lines up with the original.
- ``phash``: a 64-bit DCT hash (imagehash) compared by Hamming distance in stage 2 and used
  to report duplicate covers at ingest.
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image, ImageFilter

THUMB_SIDE = 16
HUE_BINS, SAT_BINS, VAL_BINS = 8, 4, 4
VECTOR_KEEP = 0.8  # the share of each side the vector looks at
WORKING_SIZE = (64, 96)  # (width, height): covers are about 2:3
BLUR_RADIUS = 2.0  # pixels at the working size


def _central(image: Image.Image, keep: float = 0.9) -> Image.Image:
    """The central part of the image: a photo crops or adds a margin at the edges."""
    width, height = image.size
    dx, dy = int(width * (1 - keep) / 2), int(height * (1 - keep) / 2)
    return image.crop((dx, dy, width - dx, height - dy))


def perceptual_vector(image: Image.Image) -> np.ndarray:
    central = _central(image.convert("RGB"), VECTOR_KEEP).resize(WORKING_SIZE, Image.BILINEAR)
    grey = central.convert("L").filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    thumb = np.asarray(grey.resize((THUMB_SIDE, THUMB_SIDE), Image.BILINEAR), np.float32)
    thumb = (thumb - thumb.mean()) / (thumb.std() + 1e-6)
    thumb /= np.linalg.norm(thumb) + 1e-6

    hsv = np.asarray(central.convert("HSV"), np.float32) / 256.0
    bins = (
        (hsv[..., 0] * HUE_BINS).astype(int) * SAT_BINS * VAL_BINS
        + (hsv[..., 1] * SAT_BINS).astype(int) * VAL_BINS
        + (hsv[..., 2] * VAL_BINS).astype(int)
    )
    histogram = np.bincount(bins.ravel(), minlength=HUE_BINS * SAT_BINS * VAL_BINS).astype(np.float32)
    histogram = np.sqrt(histogram / histogram.sum())  # Hellinger: cosine of sqrt-histograms

    vector = np.concatenate([thumb.ravel(), histogram])
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def phash(image: Image.Image) -> str:
    return str(imagehash.phash(_central(image)))


def phash_similarity(hash_a: str, hash_b: str) -> float:
    """1.0 for identical hashes, about 0.5 for unrelated images, 0.0 for inverted ones."""
    distance = imagehash.hex_to_hash(hash_a) - imagehash.hex_to_hash(hash_b)
    return 1.0 - distance / 64.0
