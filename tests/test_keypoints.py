"""A catalog cover found in a photo by its local features (multimodal.keypoints) and the cover_keypoints signal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from multimodal.evidence import identifies, photo_evidence, photo_weights
from multimodal.fusion import fuse
from multimodal.keypoints import (
    AGREEING_INLIERS,
    AGREEMENT_FLOOR,
    AGREEMENT_FULL,
    KEYPOINT_FLOOR,
    KEYPOINT_SATURATION,
    ORB_FAST_THRESHOLD,
    PHOTO_FEATURES,
    CoverFiles,
    CoverMatch,
    agreement,
    cover_keypoints,
    cover_thumbnail_of,
    keypoints_of,
    lies_under,
    match,
    photo_grey,
    photo_keypoints,
    photographed_covers,
    read_cover_keypoints,
)
from multimodal.photo import ScenePhoto, paste_quad, plain, scene_photo
from multimodal.records import BookRecord
from multimodal.signals import KEYPOINTS_SURE, PAIR_SCORERS, EncodedQuery

OFFLINE_WEIGHTS = json.loads((Path(__file__).parents[1] / "multimodal/profiles/offline.json").read_text())[
    "stage2_weights"
]


def first_by(candidates: dict[str, dict[str, float]], weights: dict[str, float]) -> str:
    ids = list(candidates)
    fused = fuse([candidates[book_id] for book_id in ids], weights)
    return ids[int(np.argmax(fused))]


def sample_cover(sample_catalog: Path, number: int) -> Image.Image:
    return Image.open(sample_catalog.parent / "covers" / f"sample-{number:03d}.png").convert("RGB")


def photographed(scene: bytes) -> Image.Image:
    return Image.open(io.BytesIO(scene))


def centred_scene(cover: Image.Image, others: list[Image.Image], background: str) -> ScenePhoto:
    """The first simulated scene (seeds 0, 1, ...) whose cover is drawn near the frame's centre, as a reader
    photographs a book: the simulator places it anywhere the frame holds it."""
    for seed in range(50):
        scene = scene_photo(cover, seed, others, background=background)
        width, height = photographed(scene.jpeg).size
        if np.abs(scene.corners.mean(axis=0) / (width, height) - 0.5).max() < 0.08:
            return scene
    raise AssertionError("no centred scene in 50 seeds")


@pytest.mark.parametrize("background", ["wood", "desk"])
def test_a_scene_verifies_its_own_cover_with_many_inliers_and_another_with_few(sample_catalog, background):
    cover, other = sample_cover(sample_catalog, 5), sample_cover(sample_catalog, 6)
    scene = centred_scene(cover, [], background)
    photo = photo_keypoints(photographed(scene.jpeg))
    own, another = match(photo, cover_keypoints(cover)), match(photo, cover_keypoints(other))
    assert own.inliers >= 3 * KEYPOINT_FLOOR and own.holds_centre and own.photographed() > 0.25
    assert another.inliers < KEYPOINT_FLOOR and another.photographed() == 0.0
    # The homography puts the cover where the simulator drew it.
    width, height = photographed(scene.jpeg).size
    drawn = (scene.corners / (width, height)).astype(np.float32)
    common, _ = cv2.intersectConvexConvex(own.quad, drawn)
    assert common / (cv2.contourArea(own.quad) + cv2.contourArea(drawn) - common) > 0.8


def test_the_photographed_cover_agrees_picture_against_picture_and_another_picture_does_not(sample_catalog):
    cover, other = sample_cover(sample_catalog, 5), sample_cover(sample_catalog, 6)
    scene = centred_scene(cover, [], "desk")
    photo, features = photo_keypoints(photographed(scene.jpeg)), cover_keypoints(cover)
    own = match(photo, features, lambda: cover_thumbnail_of(cover))
    assert own.agreement > AGREEMENT_FULL
    # The same homography, another cover's picture: the photo there is not that picture.
    homography = cv2.getPerspectiveTransform(
        np.float32([(0, 0), (features.size[0], 0), features.size, (0, features.size[1])]),
        np.float32(own.quad * photo.size),
    )
    assert agreement(photo.image, homography, features.size, cover_thumbnail_of(other)) < AGREEMENT_FLOOR
    assert agreement(photo.image, homography, features.size, cover_thumbnail_of(cover)) > AGREEMENT_FULL


def test_a_cover_with_few_inliers_is_verified_as_far_as_its_picture_agrees():
    centred = {"quad": np.float32([(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]), "area_share": 0.36}
    centred |= {"centre_distance": 0.0, "seen_distance": 0.0}
    few = KEYPOINT_FLOOR + 10  # a fifth of the way to certain by its inliers alone
    assert CoverMatch(few, **centred).photographed() == pytest.approx(0.2)
    assert CoverMatch(few, **centred, agreement=AGREEMENT_FULL).photographed() == pytest.approx(1.0)
    assert CoverMatch(few, **centred, agreement=AGREEMENT_FLOOR).photographed() == pytest.approx(0.2)
    # Too few inliers for the homography to say where the cover is: its picture is not looked at.
    assert CoverMatch(AGREEING_INLIERS - 1, **centred, agreement=1.0).photographed() < 0.05
    # A cover across the centre whose matched features lie far from it: under the photographed cover (evidence
    # against it), or seen where it lies when its picture agrees there — as far as AGREEING_SLACK allows.
    under = centred | {"seen_distance": 0.5}
    assert CoverMatch(KEYPOINT_SATURATION, **under).photographed() < -0.25
    assert CoverMatch(KEYPOINT_SATURATION, **under, agreement=AGREEMENT_FULL).photographed() < 0.25
    aside = centred | {"seen_distance": 0.27}  # 0.45 of the cover's size
    assert CoverMatch(KEYPOINT_SATURATION, **aside).photographed() == pytest.approx(0.25)
    assert CoverMatch(KEYPOINT_SATURATION, **aside, agreement=AGREEMENT_FULL).photographed() == pytest.approx(0.55)


def covers_on_a_table(seed: int, *placed: tuple[Image.Image, tuple[int, int, int, int]]) -> Image.Image:
    """A 900×1200 photo of a plain table with each cover laid at its (left, top, right, bottom), in that order."""
    frame = plain(np.random.default_rng(seed), 900, 1200)
    for cover, (left, top, right, bottom) in placed:
        corners = np.array([(left, top), (right, top), (right, bottom), (left, bottom)], np.float64)
        paste_quad(frame, np.asarray(cover, np.float32), corners)
    return Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8))


def test_a_blurred_photo_keeps_its_weaker_corners_and_its_cover_is_verified(sample_catalog):
    """A blurred photo has few corners as strong as ORB asks by default: found down to ``PHOTO_FAST_THRESHOLD``,
    its weaker ones are kept, and its cover is verified where the default's few features place it short of that."""
    cover = sample_cover(sample_catalog, 5)
    blurred = covers_on_a_table(3, (cover, (270, 330, 630, 870))).filter(ImageFilter.GaussianBlur(5))
    grey = photo_grey(blurred)
    default = keypoints_of(grey, 1.0, PHOTO_FEATURES, keep_image=True, fast_threshold=ORB_FAST_THRESHOLD)
    photo = photo_keypoints(grey)
    assert len(default) < PHOTO_FEATURES / 2 < len(photo)
    features, thumbnail = cover_keypoints(cover), lambda: cover_thumbnail_of(cover)
    assert match(default, features, thumbnail).photographed() < 0.5
    assert match(photo, features, thumbnail).photographed() >= 0.9


def two_covers_on_a_table(centred: Image.Image, beside: Image.Image) -> Image.Image:
    """``centred`` at the frame's centre, ``beside`` whole in the lower right corner, not overlapping it."""
    return covers_on_a_table(3, (centred, (300, 360, 600, 800)), (beside, (620, 800, 890, 1190)))


def test_a_cover_lying_beside_the_photographed_one_is_found_but_not_the_photographed_cover(sample_catalog):
    centred, beside = sample_cover(sample_catalog, 9), sample_cover(sample_catalog, 30)
    photo = photo_keypoints(two_covers_on_a_table(centred, beside))
    book, neighbour = match(photo, cover_keypoints(centred)), match(photo, cover_keypoints(beside))
    assert neighbour.inliers >= 2 * KEYPOINT_FLOOR and neighbour.area_share > 0  # it is in the photo ...
    assert not neighbour.holds_centre and neighbour.photographed() < -0.5  # ... beside the book photographed
    assert book.holds_centre and book.photographed() > 0.5


def one_cover_on_another(under: Image.Image, over: Image.Image) -> Image.Image:
    """``under`` across the frame's centre, ``over`` laid on its lower right half (both across the centre)."""
    return covers_on_a_table(4, (under, (150, 250, 500, 750)), (over, (380, 480, 730, 980)))


@pytest.mark.parametrize("numbers", [(9, 30), (30, 9), (4, 17)])
def test_of_two_covers_found_across_the_centre_the_one_lying_under_the_other_is_not_the_photographed_one(
    sample_catalog, numbers
):
    under_cover, over_cover = (sample_cover(sample_catalog, number) for number in numbers)
    photo = photo_keypoints(one_cover_on_another(under_cover, over_cover))
    under, over = (
        match(photo, cover_keypoints(cover), lambda cover=cover: cover_thumbnail_of(cover))
        for cover in (under_cover, over_cover)
    )
    assert under.photographed() >= 0.3 and over.photographed() >= 0.3  # both found, both across the centre
    assert lies_under(photo, under, over) and not lies_under(photo, over, under)
    under_value, over_value = photographed_covers(photo, [under, over])
    assert under_value == -under.photographed() and over_value == over.photographed()
    assert photographed_covers(photo, [None, over]) == [None, over.photographed()]


def test_a_cover_that_cannot_be_read_gives_no_signal(sample_catalog, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    readable = str(sample_catalog.parent / "covers" / "sample-005.png")
    scene = centred_scene(sample_cover(sample_catalog, 5), [], "wood")
    query = EncodedQuery(text="", photo_keypoints=photo_keypoints(photographed(scene.jpeg)))
    covers = [str(tmp_path / "missing.jpg"), str(broken), "https://example.org/cover.jpg", readable]
    books = [BookRecord(book_id=f"b{i}", title="A book", cover=cover) for i, cover in enumerate(covers)]
    values = PAIR_SCORERS["cover_keypoints"](query, books)
    assert values[:3] == [None, None, None]
    assert values[3] is not None and values[3] > 0.5
    # A text query (no photo) has no such signal at all.
    assert PAIR_SCORERS["cover_keypoints"](EncodedQuery(text="a book"), books) is None


def test_a_cover_whose_file_is_gone_is_still_matched_by_its_features_without_the_picture_check(sample_catalog):
    """The store's feature index outlives a cover file deleted after ingest: the match counts inliers as before."""
    cover = sample_cover(sample_catalog, 5)
    scene = centred_scene(cover, [], "wood")
    features = cover_keypoints(cover)
    query = EncodedQuery(text="", photo_keypoints=photo_keypoints(photographed(scene.jpeg)))
    query.cover_features = lambda book: features
    gone = BookRecord(book_id="gone", title="A book", cover="/nonexistent/cover.png")
    [value] = PAIR_SCORERS["cover_keypoints"](query, [gone])
    without_check = match(query.photo_keypoints, features).photographed()
    assert value == pytest.approx(without_check) and value > 0.25


def test_the_cover_cache_keeps_the_last_used_covers_only(sample_catalog):
    cache = CoverFiles(read_cover_keypoints, size=2)
    paths = [str(sample_catalog.parent / "covers" / f"sample-{n:03d}.png") for n in (1, 2, 3)]
    first = cache.get(paths[0])
    assert first is not None and cache.get(paths[0]) is first  # computed once
    for path in paths[1:]:
        cache.get(path)
    assert len(cache.cache) == 2 and all(key[0] != paths[0] for key in cache.cache)


def test_search_of_a_scene_puts_its_book_first_with_the_cover_verified(offline_folio, sample_catalog):
    cover, others = sample_cover(sample_catalog, 14), [sample_cover(sample_catalog, n) for n in (2, 33, 47, 60)]
    scene = centred_scene(cover, others, "covers")
    result = offline_folio.search(image=scene.jpeg, k=5)
    first = result.hits[0]
    assert first.book_id == "sample-014", (result.cover_text, [hit.book_id for hit in result.hits])
    assert first.signals["cover_keypoints"] > 0.5
    assert all(hit.signals.get("cover_keypoints", 0.0) < first.signals["cover_keypoints"] for hit in result.hits[1:])
    assert "photo_keypoints" in result.timings_ms


def test_the_clip_profile_verifies_the_cover_too(clip_folio, sample_catalog):
    """Random tiny CLIP weights make the image vectors noise; the keypoints do not depend on them."""
    scene = centred_scene(sample_cover(sample_catalog, 22), [], "wood")
    result = clip_folio.search(image=scene.jpeg, k=5)
    first = result.hits[0]
    assert first.book_id == "sample-022" and first.signals["cover_keypoints"] > 0.5


# -- what a verified cover does to the photo's evidence (multimodal.evidence) -----------------------------------
def candidates_with_a_neighbours_title_read() -> dict[str, dict[str, float]]:
    """ "neighbour"'s title and author were read whole (it lies beside the photographed cover); "pictured" has
    nothing read but its cover verified at the photo's centre; the rest are noise."""
    rng = np.random.default_rng(2)
    books = {
        f"book-{i}": {"image_vs_cover": float(rng.uniform(0.3, 0.5)), "ocr_title_match": float(rng.uniform(0, 0.2))}
        for i in range(20)
    }
    books["neighbour"] = {"image_vs_cover": 0.45, "ocr_title_match": 1.0}
    books["pictured"] = {"image_vs_cover": 0.5, "ocr_title_match": 0.0}
    return books


def test_a_cover_verified_at_the_centre_identifies_its_book_and_outweighs_a_neighbours_title():
    candidates = candidates_with_a_neighbours_title_read()
    before = photo_evidence(candidates, region_confidence=0.0)
    assert not before.verified and identifies("neighbour", candidates["neighbour"], before)
    candidates["pictured"]["cover_keypoints"] = 0.9
    candidates["neighbour"]["cover_keypoints"] = -0.6
    evidence = photo_evidence(candidates, region_confidence=0.0)
    assert evidence.verified_book == "pictured"
    assert identifies("pictured", candidates["pictured"], evidence)
    assert not identifies("neighbour", candidates["neighbour"], evidence)  # the photographed cover is another's
    weights = photo_weights(OFFLINE_WEIGHTS, evidence)
    assert weights["ocr_title_match"] == OFFLINE_WEIGHTS["ocr_title_match"]  # the words gain nothing over it
    assert first_by(candidates, weights) == "pictured"


def test_a_first_hit_found_beside_the_photographed_cover_is_not_identified_by_its_words():
    candidates = candidates_with_a_neighbours_title_read()
    candidates["neighbour"]["cover_keypoints"] = -0.5  # verified, away from the centre; the photographed one unknown
    evidence = photo_evidence(candidates, region_confidence=0.0)
    assert not evidence.verified and not identifies("neighbour", candidates["neighbour"], evidence)
    candidates["neighbour"]["cover_keypoints"] = 0.0  # not found in the photo at all: today's rules (another edition)
    assert identifies("neighbour", candidates["neighbour"], photo_evidence(candidates, region_confidence=0.0))


def test_two_works_verified_near_the_centre_verify_neither():
    candidates = candidates_with_a_neighbours_title_read()
    candidates["pictured"]["cover_keypoints"] = 0.8
    candidates["book-3"]["cover_keypoints"] = 0.7  # a cover lying under the photographed one, across the centre
    assert not photo_evidence(candidates, region_confidence=0.0).verified


def test_a_cover_that_only_looks_like_the_photo_is_not_identified_by_the_picture_alone():
    """The image vectors find one cover decisively nearest (a lookalike: colours, layout), nothing is read, and its
    features are nowhere in the photo: no identification. Not matched at all (no readable cover): today's rules."""
    rng = np.random.default_rng(4)
    candidates = {f"book-{i}": {"image_vs_cover": float(rng.uniform(0.3, 0.4))} for i in range(20)}
    candidates["lookalike"] = {"image_vs_cover": 0.9}
    evidence = photo_evidence(candidates, region_confidence=0.0)
    assert evidence.pictured("lookalike") and identifies("lookalike", candidates["lookalike"], evidence)
    candidates["lookalike"]["cover_keypoints"] = 0.0
    assert not identifies("lookalike", candidates["lookalike"], photo_evidence(candidates, region_confidence=0.0))
    candidates["lookalike"]["cover_keypoints"] = 0.3  # found in the photo, short of verified: the picture decides
    assert identifies("lookalike", candidates["lookalike"], photo_evidence(candidates, region_confidence=0.0))


def chequered_cover(seed: int) -> Image.Image:
    """A cover of random coloured squares: corners everywhere, at every scale (a cover rich in features)."""
    squares = np.random.default_rng(seed).integers(0, 256, (60, 40, 3)).astype(np.uint8)
    return Image.fromarray(cv2.resize(squares, (400, 600), interpolation=cv2.INTER_NEAREST))


def test_no_cover_is_matched_after_one_found_beyond_doubt_at_the_centre(sample_catalog, tmp_path):
    """One cover is photographed: once it is found (inliers well past saturation, at the centre), the candidates
    after it are not matched (a photo query's stage-2 time) and count as not found."""
    photographed_cover = tmp_path / "chequered.png"
    chequered_cover(0).save(photographed_cover)
    query = EncodedQuery(text="", photo_keypoints=photo_keypoints(chequered_cover(0)))  # the cover itself
    covers = [sample_catalog.parent / "covers" / "sample-007.png", photographed_cover, photographed_cover]
    books = [BookRecord(book_id=f"b{i}", title="A book", cover=str(cover)) for i, cover in enumerate(covers)]
    values = PAIR_SCORERS["cover_keypoints"](query, books)
    assert values[0] == 0.0 and values[1] >= KEYPOINTS_SURE and values[2] == 0.0  # not matched: not photographed


def test_the_best_cover_match_with_most_of_the_photos_features_is_identified_by_the_picture():
    """No word read, the cover found in the photo short of verified; its cover is the one the photo looks most like and
    the one most of the photo's features are found on, well ahead of any other work's: the picture identifies it."""
    rng = np.random.default_rng(5)
    candidates = {
        f"book-{i}": {"image_vs_cover": float(rng.uniform(0.3, 0.5)), "cover_features": float(rng.uniform(0, 0.3))}
        for i in range(20)
    }
    candidates["pictured"] = {"image_vs_cover": 0.53, "cover_features": 1.0, "cover_keypoints": 0.2}
    evidence = photo_evidence(candidates, region_confidence=0.0)
    assert evidence.decisive_image < 0.5 and not evidence.verified  # no rule of the picture held before
    assert identifies("pictured", candidates["pictured"], evidence)
    candidates["book-3"]["cover_features"] = 0.8  # another work has nearly as many of the photo's features
    assert not identifies("pictured", candidates["pictured"], photo_evidence(candidates, region_confidence=0.0))
    candidates["book-3"]["cover_features"] = 0.1
    candidates["pictured"]["cover_keypoints"] = 0.0  # matched, and none of its features are where the votes put them
    assert not identifies("pictured", candidates["pictured"], photo_evidence(candidates, region_confidence=0.0))
