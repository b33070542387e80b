"""The evaluation: its phone-photo simulation and typed queries, and a small run on real covers.

The real-cover test ingests 40 romance books (offline profile) into a temporary store and queries
20 of them by photo and by typed text; it is skipped when ../shared/data is absent.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, needs_shared_data
from PIL import Image, ImageDraw

from evaluation.photos import TURNS, condition_groups
from evaluation.runner import EvalOptions, evaluate, main, task_context
from evaluation.tasks import TASKS, book_seed
from evaluation.text import known_item_query, surname_of
from ingest.readers import ColumnMap
from multimodal import Folio, Settings
from multimodal.images import load_image
from multimodal.photo import phone_photo

ROMANCE = SHARED_DATA / "romance-covers"
ROMANCE_COLUMNS = {"cover": "images/img_{ISBN}.jpg", "id": "ISBN"}


def drawn_cover() -> Image.Image:
    cover = Image.new("RGB", (300, 450), (40, 60, 120))
    draw = ImageDraw.Draw(cover)
    draw.rectangle((30, 280, 270, 420), fill=(230, 200, 90))
    draw.text((60, 120), "A TITLE", fill=(255, 255, 255))
    return cover


def test_phone_photo_is_deterministic_for_a_seed_and_changes_the_image():
    cover = drawn_cover()
    first, again, other = phone_photo(cover, seed=7), phone_photo(cover, seed=7), phone_photo(cover, seed=8)
    assert first == again
    assert first != other
    photo = Image.open(io.BytesIO(first))
    assert photo.format == "JPEG" and 900 <= photo.height <= 1300  # phone size, rotation may add a little
    shrunk = np.asarray(photo.convert("RGB").resize(cover.size), dtype=np.float32)
    assert np.abs(shrunk - np.asarray(cover, dtype=np.float32)).mean() > 5  # not the cover, merely enlarged


def test_known_item_query_is_part_of_the_title_and_the_surname_with_one_slip():
    title, author = "Too Rich for a Bride: A Novel", "Mona Hodgson"
    queries = {known_item_query(title, author, random.Random(seed)) for seed in range(20)}
    assert known_item_query(title, author, random.Random(3)) == known_item_query(title, author, random.Random(3))
    assert len(queries) > 5
    for query in queries:
        assert query.endswith("hodgson") or "novel" not in query
        assert query != "too rich for a bride hodgson"  # one word dropped or misspelt
        assert "novel" not in query  # the subtitle is not what a reader remembers
    assert surname_of("Jayne Ann Krentz and Amanda Quick") == "krentz"
    assert surname_of("Martin Luther King Jr.") == "king"


@pytest.fixture(scope="module")
def small_romance_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 rows of the romance catalog; covers stay in ../shared (found through images_dir)."""
    with (ROMANCE / "listings.csv").open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        rows = [row for _, row in zip(range(40), reader, strict=False)]
        header = reader.fieldnames or []
    path = tmp_path_factory.mktemp("romance-40") / "listings.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def photo_of(folio: Folio, outcome: dict) -> bytes:
    """The photo the evaluation took of a book's cover (same seed, same bytes)."""
    record = folio.book(outcome["book_id"])
    return phone_photo(load_image(record.cover), book_seed(0, outcome["book_id"]))


@needs_shared_data
@pytest.mark.slow
def test_eval_on_real_covers_finds_the_photographed_and_the_typed_book(small_romance_catalog: Path, tmp_path: Path):
    settings = Settings(profile="offline", data_dir=tmp_path / "store")
    folio = Folio.open(settings, create=True)
    options = EvalOptions(
        catalog=small_romance_catalog,
        columns=ColumnMap(ROMANCE_COLUMNS),
        images_dir=ROMANCE,
        sample=20,
        seed=0,
        tasks=("cover", "known_item", "blurb"),
        progress=False,
    )
    report = evaluate(folio, options)  # the store is empty: the slice is ingested first

    assert report["store_books"] >= 38  # a few covers of the catalog are truncated files
    cover, text = report["tasks"]["cover"], report["tasks"]["known_item"]
    assert cover["scores"]["queries"] == text["scores"]["queries"] == 20
    assert cover["scores"]["cross_scored"]["R@1"] >= 0.9
    assert text["scores"]["cross_scored"]["R@1"] >= 0.85
    # the typed tasks carry the plain BM25 row on the same queries; blurb words are what BM25 is best at
    assert text["reference"] == "BM25 over title+author+description" and text["scores"]["reference"]["R@1"] > 0.5
    assert report["tasks"]["blurb"]["scores"]["reference"]["R@1"] >= 0.9
    assert cover["scores"]["latency_ms"]["median"] > 0

    # the stage-1 rank read off the cross-scored search is the rank a cross_score=False search gives
    for outcome in text["outcomes"][:3] + cover["outcomes"][:1]:
        query = {"text": outcome["query"]} if outcome["task"] == "known_item" else {"image": photo_of(folio, outcome)}
        plain = folio.search(**query, k=1000, cross_score=False, min_score=float("-inf"))
        assert next(hit.rank for hit in plain.hits if hit.book_id == outcome["book_id"]) == outcome["stage1_rank"]

    # the command reuses the store (no second ingest) and writes the table and the JSON report
    report_path = tmp_path / "report.json"
    argv = [str(small_romance_catalog), "--images-dir", str(ROMANCE), "--profile", "offline"]
    argv += ["--data-dir", str(settings.data_dir), "--sample", "5", "--tasks", "known_item"]
    argv += ["--report", str(report_path)]
    argv += [f"--map={name}={column}" for name, column in ROMANCE_COLUMNS.items()]
    assert main([*argv, "--no-progress"]) == 0
    written = json.loads(report_path.read_text())
    assert written["tasks"]["known_item"]["scores"]["queries"] == 5 and "cover" not in written["tasks"]
    assert written["split"] == "held-out" and written["seed"] == 1


def test_a_held_out_book_whose_work_is_stored_under_another_record_is_not_asked_as_absent(tmp_path: Path):
    from evaluation.absent import confidence_rates
    from evaluation.tasks import TaskContext, not_in_store
    from multimodal import BookRecord

    stored = [BookRecord(book_id="fantasy/1", title="Catching Fire", author="", genre="fantasy")]
    twin = BookRecord(book_id="sci-fi/7", title="Catching fire!", author="", genre="science fiction")
    alone = BookRecord(book_id="sci-fi/8", title="Flatland", author="", genre="science fiction")
    context = TaskContext(stored, tmp_path, None, Settings(data_dir=tmp_path), None, 2, False, False, [twin, alone])
    assert [record.book_id for record in not_in_store(context)] == ["sci-fi/8"]
    outcomes = [
        {"task": "absent_scene", "query": "", "rank": None, "verdict": verdict}
        for verdict in ("not_in_catalog", "matches", "found", "not_in_catalog")
    ]
    assert confidence_rates(outcomes).rates == {"no_confident_match_photos": 0.75}


def test_an_empty_store_is_ingested_with_the_covers_words_when_asked(sample_catalog: Path, tmp_path: Path):
    """``--ocr`` ingests the catalog as ``python -m ingest --ocr`` does: each cover's words are stored with its book
    (the sample's covers print their title and author)."""
    argv = [str(sample_catalog), "--profile", "offline", "--tasks", "title", "--sample", "2", "--no-progress"]
    assert main([*argv, "--data-dir", str(tmp_path / "read"), "--ocr"]) == 0
    assert main([*argv, "--data-dir", str(tmp_path / "plain")]) == 0
    read = Folio.open(Settings(profile="offline", data_dir=tmp_path / "read")).book("sample-003")
    plain = Folio.open(Settings(profile="offline", data_dir=tmp_path / "plain")).book("sample-003")
    assert "LIGHTHOUSE" in read.cover_text.upper() and plain.cover_text == ""


def test_turned_scenes_are_the_scene_photos_turned_a_quarter_or_half_turn(offline_folio: Folio, sample_catalog: Path):
    context = task_context(offline_folio, EvalOptions(sample_catalog, sample=8, seed=3, progress=False))
    scenes = TASKS["scene"].make_queries(context)
    turned = TASKS["turned_scene"].make_queries(context)
    assert [query.book_id for query in turned] == [query.book_id for query in scenes]
    assert {query.conditions["turn"] for query in turned} == set(TURNS)  # 8 books draw every turn here
    for scene, query in zip(scenes, turned, strict=True):
        turn = query.conditions["turn"]
        assert query.task == "turned_scene" and query.relevant == scene.relevant
        upright = np.asarray(load_image(scene.image), np.float32)
        turned_back = np.asarray(load_image(query.image).rotate(-turn, expand=True), np.float32)
        assert turned_back.shape == upright.shape and np.abs(turned_back - upright).mean() < 3  # the same scene
        assert f"turned {turn}°" in condition_groups(query.conditions)
