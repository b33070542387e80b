"""A photo's candidate regions: the image channel searches the covers with the whole photo, the outlines found
(accepted or not) and book-shaped windows, so that the photographed book is shortlisted even when its outline
was not found; a frame-filling photo still finds its cover first; the clip profile runs the same code."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from multimodal import Folio, Settings, localise, photo_query
from multimodal.images import load_image
from multimodal.localise import cover_outlines, locate_cover, overlap, window_boxes, window_crops
from multimodal.photo import phone_photo, scene_photo


def sample_cover(sample_catalog: Path, number: int) -> Image.Image:
    return Image.open(sample_catalog.parent / "covers" / f"sample-{number:03d}.png").convert("RGB")


def without_ocr(folio: Folio, **settings: object) -> Folio:
    """The same store and encoders, reading no text off photos: only the picture can find the book."""
    changed = Settings.model_validate(folio.settings.model_dump() | settings)
    return Folio(changed, dataclasses.replace(folio.models, cover_reader=None), folio.store)


@pytest.fixture(scope="module")
def picture_only(offline_folio: Folio) -> Folio:
    return without_ocr(offline_folio, shortlist=5, cross_score_top=5)


# Scenes of the sample catalog whose whole photo looks like other covers: (cover number, seed, background) — the
# whole photo's vector ranks the book 20th to 50th of 64.
WHOLE_MISLEADS = [(4, 0, "covers"), (9, 0, "wood"), (14, 0, "wood")]


def no_outline_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localise, "MIN_SCORE", 2.0)  # scores are at most about 1


def no_outline_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photo_query, "cover_outlines", lambda photo, limit: [])  # only the windows are left


@pytest.mark.parametrize("missed", [no_outline_accepted, no_outline_found])
@pytest.mark.parametrize(("number", "seed", "background"), WHOLE_MISLEADS)
def test_a_scene_whose_outline_is_missed_still_shortlists_its_book(
    picture_only, sample_catalog, monkeypatch, missed, number, seed, background
):
    others = [sample_cover(sample_catalog, other) for other in (3, 17, 29, 41) if other != number]
    photo = load_image(scene_photo(sample_cover(sample_catalog, number), seed, others, background=background).jpeg)
    book_id = f"sample-{number:03d}"
    missed(monkeypatch)
    whole = picture_only.searcher.encode("", photo).image_vector  # the whole photo is the region used and read
    assert book_id not in [found for found, _ in picture_only.store.nearest("covers", whole, 5)]  # the old search
    result = picture_only.search(image=photo, k=5, min_score=float("-inf"))  # every shortlisted book
    assert result.cover_region == "whole" and not result.cover_text
    assert book_id in [hit.book_id for hit in result.hits], [hit.book_id for hit in result.hits]  # shortlisted


@pytest.mark.parametrize("number", [1, 12, 23, 34, 45, 56])
def test_a_frame_filling_photo_still_finds_its_cover_first(picture_only, sample_catalog, number):
    photo = phone_photo(sample_cover(sample_catalog, number), seed=number)
    result = picture_only.search(image=photo, k=3)
    assert result.hits[0].book_id == f"sample-{number:03d}", [hit.book_id for hit in result.hits]
    assert result.hits[0].stage1_rank == 1  # the image channel's first too: no window's lookalike came before it


def test_the_outlines_are_distinct_and_best_first(sample_catalog):
    cover, others = sample_cover(sample_catalog, 5), [sample_cover(sample_catalog, n) for n in (3, 17, 29)]
    photo = load_image(scene_photo(cover, 4, others, background="covers").jpeg)
    outlines = cover_outlines(photo, 6)
    assert len(outlines) >= 2
    assert [outline.score for outline in outlines] == sorted((outline.score for outline in outlines), reverse=True)
    assert all(overlap(a.corners, b.corners) <= 0.8 for i, a in enumerate(outlines) for b in outlines[i + 1 :])
    region = locate_cover(photo)
    if region.found:  # the first outline is the one accepted
        assert np.allclose(region.corners, outlines[0].corners)


@pytest.mark.parametrize("seed", range(6))
def test_some_window_holds_most_of_the_cover_wherever_it_lies(sample_catalog, seed):
    scene = scene_photo(sample_cover(sample_catalog, 7), seed, background="plain")
    photo = load_image(scene.jpeg)
    boxes = window_boxes(photo.size)
    heights = [round(bottom - top, 6) for _, top, _, bottom in boxes]
    assert heights == sorted(heights, reverse=True)  # the largest first
    cover = scene.corners.astype(np.float32)
    area = cv2.contourArea(cover)
    held = [cv2.intersectConvexConvex(cover, box_corners(box))[0] / area for box in boxes]
    best = int(np.argmax(held))
    assert held[best] > 0.75  # most of the (tilted) cover is inside one window ...
    assert area / ((boxes[best][2] - boxes[best][0]) * heights[best]) > 0.4  # ... that is not mostly table
    assert len(window_crops(photo)) == len(boxes)


def box_corners(box: tuple[float, float, float, float]) -> np.ndarray:
    left, top, right, bottom = box
    return np.array([(left, top), (right, top), (right, bottom), (left, bottom)], np.float32)


def test_the_clip_profile_searches_its_few_regions_too(clip_folio, sample_catalog):
    others = [sample_cover(sample_catalog, n) for n in (3, 17, 29)]
    photo = load_image(scene_photo(sample_cover(sample_catalog, 9), 1, others, background="wood").jpeg)
    query = clip_folio.searcher.encode("", photo)
    budget = clip_folio.models.image_encoder.photo_regions
    assert query.image_regions is not None and 1 <= len(query.image_regions) <= budget - 1  # besides the one used
    assert not any(np.allclose(row, query.image_vector) for row in query.image_regions)
    assert clip_folio.search(image=photo, k=3).hits


def bold_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The sample catalog's bold font (``assets/make_sample_catalog.py``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "assets"))
    from make_sample_catalog import BOLD_FONTS, load_font

    return load_font(BOLD_FONTS, size)


def framed_picture_cover() -> tuple[Image.Image, np.ndarray]:
    """A scene of a cover whose picture is framed below its title (as many a paperback's): the photo, and the
    frame's corners in it — an outline the localiser may take for the cover."""
    cover = Image.new("RGB", (400, 600), (236, 232, 214))
    draw = ImageDraw.Draw(cover)
    draw.text((200, 70), "SALT HARBOUR", font=bold_font(44), fill=(20, 20, 20), anchor="mm")
    rng = np.random.default_rng(3)
    picture = cv2.GaussianBlur(rng.integers(0, 255, (470, 370, 3), dtype=np.uint8), (0, 0), 6)
    cover.paste(Image.fromarray(picture), (15, 115))
    draw.rectangle((15, 115, 385, 585), outline=(10, 10, 10), width=6)
    photo = Image.new("RGB", (720, 960), (150, 140, 120))
    photo.paste(cover, (160, 180))
    frame = np.float32([(175, 295), (545, 295), (545, 765), (175, 765)])
    return photo, frame


def test_words_printed_outside_the_outline_found_are_read(offline_folio, monkeypatch):
    """The outline found is the cover's framed picture, which holds no word: the title printed just above it is
    read from the photo around the outline (``OCR_MARGIN``)."""
    photo, frame = framed_picture_cover()
    monkeypatch.setattr(photo_query, "cover_outlines", lambda photo, limit: [localise.Outline(frame, 0.9)])
    models = offline_folio.searcher.models
    reading = photo_query.read_photo(photo, models, offline_folio.searcher.encode_images)
    assert reading.region == "cover"
    assert "SALT HARBOUR" in reading.cover_text.upper()
    monkeypatch.setattr(photo_query, "FEW_LETTERS", 0)  # the outline's own region alone reads no word
    assert "HARBOUR" not in photo_query.read_photo(photo, models, offline_folio.searcher.encode_images).cover_text


def small_print_scene() -> Image.Image:
    """A large photo of a cover whose title is printed small: legible on the rectified cover, not on the whole
    photo shrunk for OCR, nor on the photo around the outline."""
    cover = Image.new("RGB", (600, 900), (40, 60, 110))
    ImageDraw.Draw(cover).text((300, 160), "LANTERN COVE", font=bold_font(18), fill=(245, 235, 200), anchor="mm")
    photo = Image.new("RGB", (1500, 2000), (190, 180, 160))
    photo.paste(cover.rotate(4, expand=True, fillcolor=(190, 180, 160)), (430, 520))
    return photo


def test_the_best_outline_is_read_too_when_the_whole_photo_is_used(offline_folio, monkeypatch):
    """genre-covers' tuning split: an outline scored short of acceptance (its corner out of the frame), so the whole
    photo was the region used, and OCR on it read only a neighbour's letters; the outline rectified reads the
    title ("NINETEEN EIGHTY-FOUR"). Both readings are kept: the outline's words first."""
    photo = small_print_scene()
    monkeypatch.setattr(localise, "MIN_SCORE", 2.0)  # no outline accepted: the whole photo is the region used
    models, encode = offline_folio.searcher.models, offline_folio.searcher.encode_images
    reading = photo_query.read_photo(photo, models, encode)
    assert reading.region == "whole"
    assert "LANTERN COVE" in reading.cover_text.upper()
    monkeypatch.setattr(photo_query, "OCR_OUTLINE_SCORE", 2.0)  # no outline read: the whole photo's print is too small
    assert "LANTERN" not in photo_query.read_photo(photo, models, encode).cover_text.upper()


def test_a_stray_character_read_is_no_reading(offline_folio, monkeypatch):
    """genre-covers' seed 4: a blurred *Murder in Mesopotamia* read "1", which put the catalog's "#1" titles first
    by their words. A reading of fewer than ``MIN_COVER_LETTERS`` letters is no reading: the picture decides."""
    cover = Image.new("RGB", (600, 900), (230, 225, 210))
    ImageDraw.Draw(cover).text((300, 450), "1", font=bold_font(160), fill=(20, 20, 20), anchor="mm")
    photo = Image.new("RGB", (900, 1200), (150, 140, 120))
    photo.paste(cover, (150, 150))
    models, encode = offline_folio.searcher.models, offline_folio.searcher.encode_images
    assert photo_query.read_photo(photo, models, encode).cover_text == ""
    monkeypatch.setattr(photo_query, "MIN_COVER_LETTERS", 0)
    assert photo_query.read_photo(photo, models, encode).cover_text == "1"


def test_two_readings_join_without_repeating_a_word():
    assert photo_query.joined("NINETEEN EIGHTY-FOUR", "ENSTEL eighty-four") == "NINETEEN EIGHTY-FOUR ENSTEL"
    assert photo_query.joined("", "ENSTEL") == "ENSTEL"
    assert photo_query.joined("TITLE", "") == "TITLE"


def test_two_engines_read_several_images_side_by_side_as_one_reads_each(sample_catalog):
    """Search reads a photo and its best outline at once (``CoverReader.read_all`` on two engines): the same words,
    in the order given."""
    from multimodal.scorers import CoverReader

    reader = CoverReader(padded_lines=False, workers=2)
    images = [sample_cover(sample_catalog, number) for number in (2, 11, 25)] + [small_print_scene()]
    texts = reader.read_all(images)
    assert texts == [reader.read(image) for image in images]
    assert len(set(texts)) == len(texts) and all(texts[:3])  # three covers' titles, each its own


def test_concurrent_queries_sharing_the_reader_read_each_photo_as_alone(sample_catalog):
    """The app's concurrent image queries share one ``CoverReader``: each read holds an engine of its own (an
    OpenVINO detector shared by two reads at once returned the other photo's words)."""
    from concurrent.futures import ThreadPoolExecutor

    from multimodal.scorers import CoverReader

    reader = CoverReader(padded_lines=False, workers=2)
    images = [sample_cover(sample_catalog, number) for number in (2, 11, 25)] + [small_print_scene()]
    alone = [reader.read(image) for image in images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(reader.read, images * 5))
    assert together == alone * 5
