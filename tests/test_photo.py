"""Photos of covers in scenes: the simulator, finding the cover in a photo, evidence-aware fusion, and
the sample catalog's own scene photos searched with the offline profile (real OCR) and the tiny clip models."""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from multimodal.evidence import PhotoEvidence, identifies, photo_evidence, photo_weights, work_of
from multimodal.fusion import fuse
from multimodal.localise import locate_cover
from multimodal.photo import BACKGROUNDS, scene_photo
from multimodal.records import BookRecord
from multimodal.search import Ranking, Searcher
from multimodal.signals import fulltext_signals
from multimodal.store import StoredBook

ROOT = Path(__file__).resolve().parents[1]
SCENES = ROOT / "assets" / "sample" / "scenes"


def sample_cover(sample_catalog: Path, number: int) -> Image.Image:
    return Image.open(sample_catalog.parent / "covers" / f"sample-{number:03d}.png").convert("RGB")


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex quadrilaterals."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    inter, _ = cv2.intersectConvexConvex(a, b)
    return inter / (cv2.contourArea(a) + cv2.contourArea(b) - inter)


def test_a_scene_is_deterministic_for_a_seed_and_records_what_was_drawn(sample_catalog):
    cover, others = sample_cover(sample_catalog, 1), [sample_cover(sample_catalog, n) for n in range(2, 8)]
    first, again, other = scene_photo(cover, 5, others), scene_photo(cover, 5, others), scene_photo(cover, 6, others)
    assert first.jpeg == again.jpeg and first.jpeg != other.jpeg
    photo = Image.open(io.BytesIO(first.jpeg))
    assert photo.format == "JPEG" and photo.height > photo.width  # a portrait frame
    assert first.conditions["background"] in BACKGROUNDS
    assert 0.4 <= first.conditions["cover_height"] <= 0.9 and abs(first.conditions["rotation"]) <= 20
    inside = (first.corners >= 0).all() and (first.corners[:, 0] <= photo.width).all()
    assert inside and (first.corners[:, 1] <= photo.height).all()
    cover_area = cv2.contourArea(first.corners.astype(np.float32)) / (photo.width * photo.height)
    assert 0.05 < cover_area < 0.9  # the cover is part of the scene, not all of it


@pytest.mark.parametrize("background", ["plain", "wood"])
def test_the_cover_is_found_and_rectified(sample_catalog, background):
    cover = sample_cover(sample_catalog, 3)
    scene = scene_photo(cover, 11, background=background)
    region = locate_cover(Image.open(io.BytesIO(scene.jpeg)))
    assert region.method == "quad" and region.confidence > 0
    assert overlap(region.corners, scene.corners) > 0.85
    assert region.image.height > region.image.width  # upright, in the cover's proportions
    assert abs(region.image.width / region.image.height - cover.width / cover.height) < 0.1


def test_a_photo_without_a_cover_outline_is_used_whole():
    rng = np.random.default_rng(0)
    flat = Image.fromarray((rng.normal(128, 3, (800, 600, 3))).clip(0, 255).astype(np.uint8))
    region = locate_cover(flat)
    assert region.method == "whole" and region.image is flat and region.confidence == 0.0


def noisy_candidates() -> dict[str, dict[str, float]]:
    """Thirty books: "read" has its title and author read whole on the cover; "lookalike" has the best
    cover similarity of a noisy image vector (a scene whose cover was not found); the rest are noise."""
    rng = np.random.default_rng(1)
    books = {
        f"book-{i}": {
            "image_vs_cover": float(rng.uniform(0.3, 0.5)),
            "perceptual": float(rng.uniform(0.4, 0.6)),
            "ocr_title_match": float(rng.uniform(0.0, 0.2)),  # a few stray words
        }
        for i in range(28)
    }
    books["read"] = {"image_vs_cover": 0.42, "perceptual": 0.5, "ocr_title_match": 1.0}
    books["lookalike"] = {"image_vs_cover": 0.62, "perceptual": 0.66, "ocr_title_match": 0.0}
    return books


OFFLINE_PHOTO_WEIGHTS = {"image_vs_cover": 2.0, "perceptual": 1.0, "ocr_title_match": 1.0}


def first_by(candidates: dict[str, dict[str, float]], weights: dict[str, float]) -> str:
    scores = fuse(list(candidates.values()), weights)
    return max(zip(scores, candidates, strict=True), key=lambda pair: pair[0])[1]


def test_a_decisive_text_match_is_not_outvoted_by_a_noisy_image_vector():
    candidates = noisy_candidates()
    assert first_by(candidates, OFFLINE_PHOTO_WEIGHTS) == "lookalike"  # fixed weights: the picture outvotes
    evidence = photo_evidence(candidates, region_confidence=0.0)
    assert evidence.text > 0.8
    assert first_by(candidates, photo_weights(OFFLINE_PHOTO_WEIGHTS, evidence)) == "read"
    assert identifies("read", candidates["read"], evidence)


def test_a_clean_picture_with_no_legible_text_still_wins_on_the_picture():
    candidates = noisy_candidates()
    del candidates["read"]
    candidates["pictured"] = {"image_vs_cover": 0.97, "perceptual": 0.95, "ocr_title_match": 0.0}
    evidence = photo_evidence(candidates, region_confidence=0.0)
    assert evidence.text < 0.2 and evidence.decisive_image == 1.0
    assert first_by(candidates, photo_weights(OFFLINE_PHOTO_WEIGHTS, evidence)) == "pictured"
    assert identifies("pictured", candidates["pictured"], evidence)


def test_nothing_read_and_no_cover_standing_out_is_not_identifies():
    candidates = noisy_candidates()
    del candidates["read"], candidates["lookalike"]
    evidence = photo_evidence(candidates, region_confidence=0.0)
    first = first_by(candidates, photo_weights(OFFLINE_PHOTO_WEIGHTS, evidence))
    assert not identifies(first, candidates[first], evidence)
    assert isinstance(evidence, PhotoEvidence)


def test_a_near_duplicate_cover_identifies_its_book_with_nothing_read_and_a_close_second():
    candidates = noisy_candidates()
    del candidates["read"], candidates["lookalike"]
    candidates["same cover"] = {"image_vs_cover": 0.98, "perceptual": 0.97, "ocr_title_match": 0.0}
    candidates["series look"] = {"image_vs_cover": 0.93, "perceptual": 0.9, "ocr_title_match": 0.0}
    evidence = photo_evidence(candidates, region_confidence=0.0)
    assert evidence.decisive_image < 0.5  # the same series' design is close behind: not decisive
    assert identifies("same cover", candidates["same cover"], evidence)
    assert not identifies("series look", candidates["series look"], evidence)


def test_a_work_filed_twice_stands_out_from_other_works_not_from_its_twin():
    """genre-covers files one book under two genres with the same cover: the twins tie on every signal."""
    candidates = noisy_candidates()
    del candidates["read"], candidates["lookalike"]
    for twin in ("twin-fantasy", "twin-horror"):
        candidates[twin] = {"image_vs_cover": 0.9, "perceptual": 0.9, "ocr_title_match": 0.65}
    alone = photo_evidence(candidates, region_confidence=0.0)
    # Without the works, the twin that is not the best cover match is neither pictured nor ahead of the other.
    assert alone.decisive_image == 0.0 and not identifies("twin-horror", candidates["twin-horror"], alone)
    works = {twin: work_of("Brood of the Witch-Queen", "Sax Rohmer") for twin in ("twin-fantasy", "twin-horror")}
    evidence = photo_evidence(candidates, region_confidence=0.0, works=works)
    assert evidence.decisive_image == 1.0 and evidence.text_lead("twin-horror", 0.65) > 0.4
    assert identifies("twin-horror", candidates["twin-horror"], evidence)


def test_a_cover_verified_as_the_photographed_one_is_first_whatever_the_words_say():
    """genre-covers' seed 2: *The Deerslayer*'s cover was verified at the photo's centre (1.0), yet the words read
    there ("The ... Letters side") gave *Letters from the Inside* the best fused score. The verified cover is first
    (with its twin after it), at the best score; a photo with no cover verified keeps the fused order."""
    records = [BookRecord(book_id=b, title=t) for b, t in [("letters", "Letters from the inside"),
                                                          ("deerslayer", "The deerslayer"),
                                                          ("deerslayer-twin", "The deerslayer"),
                                                          ("plague", "The Scarlet Plague")]]  # fmt: skip
    signals = [
        {"ocr_title_match": 0.67, "cover_keypoints": 0.07},
        {"ocr_title_match": 0.0, "cover_keypoints": 1.0},
        {"ocr_title_match": 0.0, "cover_keypoints": 1.0},
        {"ocr_title_match": 0.0, "cover_keypoints": 0.2},
    ]
    works = {record.book_id: work_of(record.title, record.author) for record in records}

    def reordered(evidence_signals: list[dict[str, float]]) -> tuple[list[str], dict[int, float]]:
        books = [StoredBook(record, None, None) for record in records]
        ranking = Ranking(books, signals, [0.0] * 4, [0, 1, 2, 3], {}, stage2={0: 0.9, 1: 0.8, 2: 0.8, 3: 0.7})
        candidates = {record.book_id: values for record, values in zip(records, evidence_signals, strict=True)}
        ranking.evidence = photo_evidence(candidates, region_confidence=0.0, works=works)
        order = Searcher.verified_first(ranking, [0, 1, 2, 3]) if ranking.evidence.verified else [0, 1, 2, 3]
        return [records[i].book_id for i in order], ranking.stage2

    order, scores = reordered(signals)
    assert order == ["deerslayer", "deerslayer-twin", "letters", "plague"]
    assert scores[1] == scores[0] == 0.9
    unverified = [dict(values, cover_keypoints=min(values["cover_keypoints"], 0.4)) for values in signals]
    assert reordered(unverified)[0] == ["letters", "deerslayer", "deerslayer-twin", "plague"]


def sample_scenes(sample_catalog: Path) -> list[dict[str, str]]:
    with (SCENES / "scenes.csv").open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_the_sample_scenes_find_their_book_first(offline_folio, sample_catalog):
    scenes = sample_scenes(sample_catalog)
    assert len(scenes) >= 5
    for scene in scenes:
        result = offline_folio.search(image=(SCENES / scene["photo"]).read_bytes(), k=3)
        assert result.hits and result.hits[0].book_id == scene["book_id"], (scene, result.cover_text)
        assert result.cover_region in ("cover", "whole") and result.cover_identified is True
        # One notion of "confident" for a photo: the verdict the reader sees is the photo's identification.
        assert result.verdict == "found" and result.hits[0].tier == "found", (scene, result.hits[0].confidence)


def drawn_in_the_sample_style(book: dict[str, str]) -> Image.Image:
    """A cover drawn as the sample catalog's covers are (assets/make_sample_catalog.py), for any made-up book."""
    spec = importlib.util.spec_from_file_location("make_sample_catalog", ROOT / "assets" / "make_sample_catalog.py")
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module.draw_cover(book)


@pytest.mark.parametrize("background", ["desk", "wood", "covers"])
def test_a_scene_of_a_book_not_in_the_store_is_no_confident_match(offline_folio, sample_catalog, background):
    """The cover looks like the catalog's (same drawing, same genre), but its title and author are in no record."""
    made_up = {"id": "absent-1", "title": "The Quiet Orchard of Velmont", "author": "Mara Vellinghast"}
    cover = drawn_in_the_sample_style(made_up | {"genre": "romance"})
    others = [sample_cover(sample_catalog, number) for number in (3, 17, 29, 41)]
    photo = scene_photo(cover, 7, others, background=background)
    result = offline_folio.search(image=photo.jpeg, k=5)
    assert result.hits, "a photo always gets its closest books"
    assert result.cover_identified is False and result.verdict != "found", (result.cover_text, result.hits[0].title)
    assert all(hit.tier != "found" for hit in result.hits)


def test_the_clip_profile_runs_the_same_localisation_and_fusion(clip_folio, sample_catalog):
    """Random tiny CLIP weights make the image vectors noise: the title read on the cover must still win."""
    scene = sample_scenes(sample_catalog)[0]
    result = clip_folio.search(image=(SCENES / scene["photo"]).read_bytes(), k=3)
    assert result.cover_region in ("cover", "whole") and result.cover_identified is not None
    assert {"photo_localise", "photo_cover_vectors", "photo_ocr"} <= result.timings_ms.keys()
    assert result.hits[0].book_id == scene["book_id"], result.cover_text


def test_a_book_whose_title_and_author_were_read_counts_in_the_full_text_channel_among_other_words(offline_folio):
    """A scene's text holds the books around it: no book has three quarters of it, yet the photographed one's title
    and author were read whole. The cover-text channel keeps it; typed words are held to the coverage rule."""
    searcher = offline_folio.searcher
    records = list(offline_folio.books(["sample-001", "sample-002"]).values())
    read = (
        "Letters to Saltmarsh Lane Odile Varnecke CARTOGRAPHER VALENTINE Imre Castel ZQX HARBOUR 2019 NOVEL BESTSELLER"
    )
    by_name = {signal.name: signal for signal in fulltext_signals()}
    kept = searcher.fulltext_evidence(by_name["ocr_fulltext"], read, records)
    assert "sample-001" in kept and kept["sample-001"] >= 0.5
    assert "sample-001" not in searcher.fulltext_evidence(by_name["fulltext"], read, records)
    # BM25's first book for a photo's words always reaches stage 2 (here the only one, whatever was read of it).
    few = searcher.fulltext_evidence(by_name["ocr_fulltext"], "SALTMARSH QWERTY ZXCVBN PLOKIJU", records[:1])
    assert list(few) == ["sample-001"] and few["sample-001"] < 0.5
