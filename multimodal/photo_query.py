"""What a photo brings to a search: the cover found in it, the cover's vectors and the text read on it.

A reader's photo is a scene — the book on a table, among other books, tilted, a thumb on it — or a
cover filling the frame. ``read_photo`` finds the cover (``multimodal.localise``), computes the
image vector and perceptual hash on the rectified cover (the whole photo when no cover outline was
found) and reads the text on the same region, so that the text of the books around it is not read
as this one's.

``PhotoReading.region`` says which was used ("cover": the rectified cover; "whole": the whole
photo, when no outline was found or the whole photo matches a catalog cover better) and
``region_confidence`` how cleanly the cover was found; search weighs the image signals by it
(``multimodal.evidence``) and the result reports it (``SearchResult.cover_region``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from multimodal.fingerprint import phash
from multimodal.localise import CoverRegion, locate_cover
from multimodal.models import Models


@dataclass
class PhotoReading:
    image_vector: np.ndarray
    image_phash: str
    cover_text: str
    region: str  # "cover": the rectified cover; "whole": the whole photo (no cover outline found)
    region_confidence: float  # in [0, 1]; 0 for the whole photo
    timings_ms: dict[str, float] = field(default_factory=dict)  # localise, cover_vectors, ocr


def read_photo(
    photo: Image.Image,
    models: Models,
    encode_images: Callable[[Sequence[Any]], np.ndarray],
    best_cover_match: Callable[[np.ndarray], float] | None = None,
) -> PhotoReading:
    """The photo's cover vectors and text, computed on the cover found in it (or on the whole photo).

    When an outline was found, the catalog decides between it and the whole photo: both are encoded
    and the one whose nearest catalog cover is nearer is used (``best_cover_match``). A cover that
    fills the frame has outlines inside it (a title band, a framed picture) that must not replace it.
    """
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = (now - clock) * 1000
        clock = now

    region = locate_cover(photo)
    lap("localise")
    if region.found:
        cover_vector, whole_vector = encode_images(
            [models.image_encoder.prepare(image) for image in (region.image, photo)]
        )
        if best_cover_match is not None and best_cover_match(whole_vector) > best_cover_match(cover_vector):
            region = CoverRegion(photo, "whole", 0.0)
            cover_vector = whole_vector
    else:
        cover_vector = encode_images([models.image_encoder.prepare(photo)])[0]
    cover = region.image
    cover_hash = phash(cover)
    lap("cover_vectors")
    text = models.cover_reader.read(cover) if models.cover_reader is not None else ""
    lap("ocr")
    return PhotoReading(
        image_vector=cover_vector,
        image_phash=cover_hash,
        cover_text=text,
        region="cover" if region.found else "whole",
        region_confidence=region.confidence,
        timings_ms=timings,
    )
