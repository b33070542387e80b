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

The outline found is sometimes a cover's framed picture, its title printed just outside it, and a whole photo
shrunk for OCR can leave a small cover's print illegible: when the region used reads next to nothing
(``FEW_LETTERS``), the photo around the best outline (``OCR_MARGIN``) is read, and its words are used when they
are more than a stray letter or two. When no outline was accepted and the whole photo is the region used, the best
outline found is rectified and read too, beside it (two OCR engines at once: ``CoverReader.read_all``), and its words
come first (``OCR_OUTLINE_SCORE``): a cover with a corner out of the frame or glare across an edge scores short of
acceptance, and its title, legible when rectified, is illegible in the whole photo shrunk for OCR.

An outline is accepted in only about half of the scenes, and the whole photo's vector describes the
table as much as the cover. So the image channel casts a wider net: ``PhotoReading.other_region_vectors``
holds the vectors of the other candidate regions — the whole photo or the outline not used, the next
best outlines (accepted or not) and book-shaped windows over the photo (``localise.window_boxes``), as
many as the image encoder affords (``photo_regions``: dozens of perceptual fingerprints, a few CLIP
forwards) — and search ranks each cover at its best similarity over them, handicapped against the region
used (``Searcher.nearest``). Measured in ``benchmarks/scene_recall.py`` (docs/evaluation.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from multimodal.fingerprint import phash
from multimodal.lexicon import MIN_COVER_LETTERS
from multimodal.localise import CoverRegion, Outline, cover_outlines, locate_cover, rectify, surroundings, window_crops
from multimodal.models import Models

SEARCHED_OUTLINES = 3  # the best outlines found, accepted or not, whose regions the covers are searched with
SEARCH_REGION_HEIGHT = 256  # pixels: a searched outline is rectified this tall (its vector needs no more)
FEW_LETTERS = 6  # text read on the region used with fewer letters than this is read again around the best outline
OCR_MARGIN = 0.15  # ... the outline's bounding box grown by this share of its size on every side
OCR_OUTLINE_SCORE = 0.1  # when the whole photo is used, the best outline scoring this (not accepted) is read beside it


@dataclass
class PhotoReading:
    image_vector: np.ndarray
    image_phash: str
    cover_text: str
    region: str  # "cover": the rectified cover; "whole": the whole photo (no cover outline found)
    region_confidence: float  # in [0, 1]; 0 for the whole photo
    # The other candidate regions' vectors, one a row (the whole photo or the outline not used, the next outlines,
    # windows): the covers are searched with each too, so that the book is shortlisted when its outline was missed.
    other_region_vectors: np.ndarray | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)  # localise, cover_vectors, ocr


def read_photo(
    photo: Image.Image,
    models: Models,
    encode_images: Callable[[Sequence[Any]], np.ndarray],
    best_cover_matches: Callable[[np.ndarray], list[float]] | None = None,
) -> PhotoReading:
    """The photo's cover vectors and text, computed on the cover found in it (or on the whole photo).

    When an outline was found, the catalog decides between it and the whole photo: both are encoded
    and the one whose nearest catalog cover is nearer is used (``best_cover_matches``, one store search). A cover that
    fills the frame has outlines inside it (a title band, a framed picture) that must not replace it.
    The other candidate regions (``search_regions``) are encoded in the same forward.
    """
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = (now - clock) * 1000
        clock = now

    outlines = cover_outlines(photo, SEARCHED_OUTLINES)
    region = locate_cover(photo, outlines)
    lap("localise")
    rgb = np.asarray(photo.convert("RGB"))  # the pixels the outlines are rectified from
    chosen = [region.image] if region.found else []
    others = search_regions(
        photo, rgb, outlines[1:] if region.found else outlines, models.image_encoder.photo_regions - 1 - len(chosen)
    )
    vectors = encode_images([models.image_encoder.prepare(image) for image in [photo, *chosen, *others]])
    used = len(chosen)  # the row of the region used: the outline, else the whole photo
    if region.found and best_cover_matches is not None:
        whole_match, outline_match = best_cover_matches(vectors[:2])
        if whole_match > outline_match:
            region, used = CoverRegion(photo, "whole", 0.0), 0
    cover_vector = vectors[used]
    cover = region.image
    cover_hash = phash(cover)
    lap("cover_vectors")
    text = ""
    if models.cover_reader is not None:
        if not region.found and outlines and outlines[0].score >= OCR_OUTLINE_SCORE:  # read beside the whole photo
            whole, inside = models.cover_reader.read_all([cover, rectify(rgb, outlines[0].corners)])
            text = joined(inside, whole)
        else:
            text = models.cover_reader.read(cover)
    lap("ocr")
    if models.cover_reader is not None and letters(text) < FEW_LETTERS and outlines:
        around = models.cover_reader.read(surroundings(photo, outlines[0].corners, OCR_MARGIN))
        text = around if letters(around) >= FEW_LETTERS else text  # a stray letter or two is no reading
        lap("ocr_around_outline")
    if letters(text) < MIN_COVER_LETTERS:
        text = ""  # "1", "SE", "THE": read off a blurred cover or its background, they would match titles by chance
    return PhotoReading(
        image_vector=cover_vector,
        image_phash=cover_hash,
        cover_text=text,
        region="cover" if region.found else "whole",
        region_confidence=region.confidence,
        other_region_vectors=np.delete(vectors, used, axis=0),
        timings_ms=timings,
    )


def joined(first: str, second: str) -> str:
    """Two readings as one text: ``first``, then the words of ``second`` it does not hold."""
    seen = set(first.casefold().split())
    return " ".join([first, *(word for word in second.split() if word.casefold() not in seen)]).strip()


def letters(text: str) -> int:
    return sum(char.isalnum() for char in text)


def search_regions(photo: Image.Image, rgb: np.ndarray, outlines: Sequence[Outline], budget: int) -> list[Image.Image]:
    """Up to ``budget`` more regions of the photo (``rgb``: its pixels) that may hold the cover: the outlines
    (rectified, accepted or not), then book-shaped windows, the largest first (``localise.window_crops``)."""
    if budget <= 0:
        return []
    regions = [rectify(rgb, outline.corners, SEARCH_REGION_HEIGHT) for outline in outlines[:budget]]
    return regions + window_crops(photo)[: budget - len(regions)]
