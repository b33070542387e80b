"""A catalog cover found in a photo by its local features (multimodal.keypoints) and the cover_keypoints signal."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal.keypoints import (
    KEYPOINT_FLOOR,
    CoverKeypoints,
    cover_keypoints,
    match,
    photo_keypoints,
)
from multimodal.photo import paste_quad, plain, scene_photo
from multimodal.records import BookRecord
from multimodal.signals import PAIR_SCORERS, EncodedQuery


def sample_cover(sample_catalog: Path, number: int) -> Image.Image:
    return Image.open(sample_catalog.parent / "covers" / f"sample-{number:03d}.png").convert("RGB")


def photographed(scene: bytes) -> Image.Image:
    return Image.open(io.BytesIO(scene))


@pytest.mark.parametrize("background", ["wood", "desk"])
def test_a_scene_verifies_its_own_cover_with_many_inliers_and_another_with_few(sample_catalog, background):
    cover, other = sample_cover(sample_catalog, 5), sample_cover(sample_catalog, 6)
    scene = scene_photo(cover, 21, background=background)
    photo = photo_keypoints(photographed(scene.jpeg))
    own, another = match(photo, cover_keypoints(cover)), match(photo, cover_keypoints(other))
    assert own.inliers >= 4 * KEYPOINT_FLOOR and own.holds_centre and own.photographed() > 0.5
    assert another.inliers < KEYPOINT_FLOOR and another.photographed() == 0.0
    # The homography puts the cover where the simulator drew it (corners within 3 % of the frame).
    width, height = photographed(scene.jpeg).size
    assert np.abs(own.quad - scene.corners / (width, height)).max() < 0.03


def two_covers_on_a_table(centred: Image.Image, beside: Image.Image) -> Image.Image:
    """``centred`` at the frame's centre, ``beside`` whole in the lower right corner, not overlapping it."""
    rng = np.random.default_rng(3)
    frame = plain(rng, 900, 1200)
    for cover, (left, top, right, bottom) in ((centred, (300, 360, 600, 800)), (beside, (620, 800, 890, 1190))):
        corners = np.array([(left, top), (right, top), (right, bottom), (left, bottom)], np.float64)
        paste_quad(frame, np.asarray(cover, np.float32), corners)
    return Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8))


def test_a_cover_lying_beside_the_photographed_one_is_found_but_not_the_photographed_cover(sample_catalog):
    centred, beside = sample_cover(sample_catalog, 9), sample_cover(sample_catalog, 30)
    photo = photo_keypoints(two_covers_on_a_table(centred, beside))
    book, neighbour = match(photo, cover_keypoints(centred)), match(photo, cover_keypoints(beside))
    assert neighbour.inliers >= 2 * KEYPOINT_FLOOR and neighbour.area_share > 0  # it is in the photo ...
    assert not neighbour.holds_centre and neighbour.photographed() < -0.5  # ... beside the book photographed
    assert book.holds_centre and book.photographed() > 0.5


def test_a_cover_that_cannot_be_read_gives_no_signal(sample_catalog, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    readable = str(sample_catalog.parent / "covers" / "sample-005.png")
    scene = scene_photo(sample_cover(sample_catalog, 5), 21, background="wood")
    query = EncodedQuery(text="", photo_keypoints=photo_keypoints(photographed(scene.jpeg)))
    covers = [str(tmp_path / "missing.jpg"), str(broken), "https://example.org/cover.jpg", readable]
    books = [BookRecord(book_id=f"b{i}", title="A book", cover=cover) for i, cover in enumerate(covers)]
    values = PAIR_SCORERS["cover_keypoints"](query, books)
    assert values[:3] == [None, None, None]
    assert values[3] is not None and values[3] > 0.5
    # A text query (no photo) has no such signal at all.
    assert PAIR_SCORERS["cover_keypoints"](EncodedQuery(text="a book"), books) == [None] * 4


def test_the_cover_cache_keeps_the_last_used_covers_only(sample_catalog):
    cache = CoverKeypoints(size=2)
    paths = [str(sample_catalog.parent / "covers" / f"sample-{n:03d}.png") for n in (1, 2, 3)]
    first = cache.get(paths[0])
    assert first is not None and cache.get(paths[0]) is first  # computed once
    for path in paths[1:]:
        cache.get(path)
    assert len(cache.cache) == 2 and all(key[0] != paths[0] for key in cache.cache)


def test_search_of_a_scene_puts_its_book_first_with_the_cover_verified(offline_folio, sample_catalog):
    cover, others = sample_cover(sample_catalog, 14), [sample_cover(sample_catalog, n) for n in (2, 33, 47, 60)]
    scene = scene_photo(cover, 8, others, background="covers")
    result = offline_folio.search(image=scene.jpeg, k=5)
    first = result.hits[0]
    assert first.book_id == "sample-014", (result.cover_text, [hit.book_id for hit in result.hits])
    assert first.signals["cover_keypoints"] > 0.5
    assert all(hit.signals.get("cover_keypoints", 0.0) < first.signals["cover_keypoints"] for hit in result.hits[1:])
    assert "photo_keypoints" in result.timings_ms


def test_the_clip_profile_verifies_the_cover_too(clip_folio, sample_catalog):
    """Random tiny CLIP weights make the image vectors noise; the keypoints do not depend on them."""
    scene = scene_photo(sample_cover(sample_catalog, 22), 4, background="wood")
    result = clip_folio.search(image=scene.jpeg, k=5)
    first = result.hits[0]
    assert first.book_id == "sample-022" and first.signals["cover_keypoints"] > 0.5
