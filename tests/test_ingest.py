"""The ingest job: bad input is reported and the rest lands; reruns do only what changed."""

from __future__ import annotations

import csv
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from conftest import ROOT, SAMPLE_CATALOG, SHARED_DATA, needs_shared_data
from PIL import Image, ImageDraw

from ingest.job import IngestJob, IngestOptions, shard_of
from ingest.readers import ColumnMap
from multimodal.service import LoadedModels, load_models
from multimodal.settings import Settings
from multimodal.store import BookStore

FIELDS = ["id", "title", "author", "year", "genre", "description", "cover"]


@pytest.fixture(scope="module")
def offline_models() -> LoadedModels:
    return load_models(Settings(profile="offline", query_ocr=False))


def draw_cover(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (200, 300), tuple(int(c) for c in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.integers(0, 200), rng.integers(0, 300)
        draw.ellipse((x, y, x + 60, y + 60), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    image.save(path)


def write_catalog(folder: Path, rows: list[dict[str, str]]) -> Path:
    path = folder / "catalog.csv"
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, FIELDS)
        writer.writeheader()
        writer.writerows({field: row.get(field, "") for field in FIELDS} for row in rows)
    return path


def good_rows(folder: Path, count: int) -> list[dict[str, str]]:
    rows = []
    for i in range(count):
        draw_cover(folder / f"c{i}.png", seed=i)
        rows.append(
            {
                "id": f"b{i}",
                "title": f"Book number {i}",
                "author": f"Author {i}",
                "year": str(1990 + i),
                "genre": "mystery",
                "description": f"Story {i} about a {['lighthouse', 'garden', 'train', 'violin'][i % 4]}.",
                "cover": f"c{i}.png",
            }
        )
    return rows


def run(models: LoadedModels, data_dir: Path, catalog: Path, **options: object):
    settings = Settings(profile="offline", data_dir=data_dir)
    store = BookStore(settings, models.models.profile.name, models.models.identity)
    options.setdefault("cache_dir", data_dir / "cache")
    summary = IngestJob(models.models, store, IngestOptions(catalog=catalog, progress=False, **options)).run()
    return summary, store


def test_bad_rows_are_reported_and_the_rest_lands(offline_models, tmp_path):
    rows = good_rows(tmp_path, 4)
    (tmp_path / "notes.png").write_text("this is not an image")
    Image.new("RGB", (300, 450), (255, 255, 255)).save(tmp_path / "blank.png")
    (tmp_path.parent / "secret.png").write_bytes((tmp_path / "c0.png").read_bytes())
    rows += [
        {"id": "no-title", "title": "", "cover": "c0.png"},
        {"id": "no-cover", "title": "Coverless", "cover": ""},
        {"id": "missing-file", "title": "Lost", "cover": "nowhere.png"},
        {"id": "not-image", "title": "Notes", "cover": "notes.png"},
        {"id": "b1", "title": "Same id again", "cover": "c1.png"},
        {"id": "escape", "title": "Escape", "cover": "../secret.png"},
        {
            "id": "blank",
            "title": "The Plain Wrapper",
            "description": "A book with a blank cover.",
            "cover": "blank.png",
        },
    ]
    rejects = tmp_path / "rejects.jsonl"
    summary, store = run(offline_models, tmp_path / "store", write_catalog(tmp_path, rows), rejects_path=rejects)

    reasons = {rejection.book_id: rejection.reason for rejection in summary.rejected}
    assert reasons.keys() == {"no-title", "no-cover", "missing-file", "b1", "escape"}
    assert reasons["no-title"] == "missing title"
    assert "not found" in reasons["missing-file"]
    assert "duplicate id" in reasons["b1"] and "outside" in reasons["escape"]
    assert summary.ingested == 6 and summary.exit_code == 3
    flags = {flag.book_id: flag.reason for flag in summary.flagged}
    assert flags.keys() == {"not-image", "blank"} and "not an image" in flags["not-image"]
    assert store.count() == 6 and store.covers.count() == 4  # the blank and unreadable covers have no vector
    assert store.fetch(["not-image"])["not-image"].record.flags == ["unreadable-cover"]

    reported = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert {entry["book_id"] for entry in reported} == reasons.keys()
    assert all({"row", "book_id", "field", "reason"} <= entry.keys() for entry in reported)
    assert next(e for e in reported if e["book_id"] == "missing-file")["row"] == 8


def test_a_catalog_of_titles_alone_is_told_of_ocr(offline_models, tmp_path):
    """Most books with neither author nor description: the report says what --ocr would store for them."""
    rows = good_rows(tmp_path, 4)
    thin = [row | {"author": "", "description": ""} if i < 3 else row for i, row in enumerate(rows)]
    summary, _ = run(offline_models, tmp_path / "thin", write_catalog(tmp_path, thin))
    assert "3 of 4 books have no author and no description: --ocr" in summary.report()
    summary, _ = run(offline_models, tmp_path / "full", write_catalog(tmp_path, rows))
    assert "--ocr" not in summary.report()


def test_blank_cover_book_is_searchable_by_text(offline_models, tmp_path):
    from multimodal import open_search

    rows = good_rows(tmp_path, 3)
    Image.new("RGB", (2, 2)).save(tmp_path / "dot.gif")
    rows.append({"id": "plain", "title": "The Plain Wrapper", "description": "Parcels in fog.", "cover": "dot.gif"})
    summary, _ = run(offline_models, tmp_path / "store", write_catalog(tmp_path, rows))
    assert summary.flagged[0].reason.startswith("placeholder")
    settings = Settings(profile="offline", data_dir=tmp_path / "store")
    hits = open_search(settings, models=offline_models.models).search(text="the plain wrapper").hits
    assert hits[0].book_id == "plain" and hits[0].flags == ["blank-cover"]


def test_subjects_and_publisher_are_stored_and_searched_as_full_text(offline_models, tmp_path):
    from multimodal import open_search

    rows = good_rows(tmp_path, 3)
    path = tmp_path / "books.jsonl"
    rows[1] |= {"subjects": ["Beekeeping", "Rural life"], "publisher": "Quillfeather Press"}
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    first, store = run(offline_models, tmp_path / "store", path)
    assert first.ingested == 3
    record = store.fetch(["b1"])["b1"].record
    assert (record.subjects, record.publisher) == ("Beekeeping; Rural life", "Quillfeather Press")
    folio = open_search(Settings(profile="offline", data_dir=tmp_path / "store"), models=offline_models.models)
    for words in ("quillfeather", "beekeeping"):  # in no title, author or description
        hits = folio.search(text=words, min_score=0.0).hits
        assert hits[0].book_id == "b1" and hits[0].signals["fulltext"] > 0.9, words
    rows[1]["publisher"] = "Another House"  # a changed publisher is a changed book
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    again, _ = run(offline_models, tmp_path / "store", path)
    assert (again.updated, again.unchanged) == (1, 2)


def test_rerun_redoes_only_what_changed(offline_models, tmp_path):
    rows = good_rows(tmp_path, 5)
    catalog = write_catalog(tmp_path, rows)
    first, store = run(offline_models, tmp_path / "store", catalog)
    assert (first.ingested, first.unchanged) == (5, 0)
    again, _ = run(offline_models, tmp_path / "store", catalog)
    assert (again.ingested, again.updated, again.unchanged) == (0, 0, 5)

    rows[1]["description"] = "Now a story about a submarine."
    draw_cover(tmp_path / "c3.png", seed=99)  # a new cover for book 3
    changed, store = run(offline_models, tmp_path / "store", write_catalog(tmp_path, rows))
    assert (changed.ingested, changed.updated, changed.unchanged) == (0, 2, 3)
    stored = store.fetch(["b1", "b3"])
    assert "submarine" in stored["b1"].record.description
    fresh = offline_models.models.image_encoder.encode_images([Image.open(tmp_path / "c3.png").convert("RGB")])[0]
    assert float(np.dot(fresh, stored["b3"].cover_vector)) == pytest.approx(1.0, abs=1e-4)


def test_prune_removes_books_no_longer_in_the_catalog(offline_models, tmp_path):
    rows = good_rows(tmp_path, 5)
    run(offline_models, tmp_path / "store", write_catalog(tmp_path, rows))
    kept = [*rows[:2], {**rows[2], "title": ""}]  # a now-broken row is rejected but not pruned
    summary, store = run(offline_models, tmp_path / "store", write_catalog(tmp_path, kept), prune=True, force=True)
    assert summary.pruned == 2 and sorted(store.all_ids()) == ["b0", "b1", "b2"]


@pytest.mark.parametrize(
    "broken",
    [
        "id,title,author,year,genre,description,cover\n",  # header only
        "id;title;author;cover\nb0,Book number 0;x;c0.png\n",  # every row ragged or untitled
        None,  # a mistyped --map: every row rejected
    ],
)
def test_prune_never_acts_on_a_catalog_without_valid_rows(offline_models, tmp_path, broken):
    rows = good_rows(tmp_path, 5)
    run(offline_models, tmp_path / "store", write_catalog(tmp_path, rows))
    options: dict[str, object] = {"prune": True, "force": True}
    if broken is None:
        catalog = write_catalog(tmp_path, rows)
        options["columns"] = ColumnMap({"id": "book-{ID}"})  # the column is "id": every row rejected
    else:
        catalog = tmp_path / "broken.csv"
        catalog.write_text(broken)
    summary, store = run(offline_models, tmp_path / "store", catalog, **options)
    assert summary.pruned == 0 and len(store.all_ids()) == 5
    assert summary.exit_code == 2 and "no valid rows" in summary.report()
    assert "would have removed (5): b0, b1, b2, b3, b4" in summary.report()


def test_prune_beyond_its_limit_is_refused_unless_forced(offline_models, tmp_path):
    rows = good_rows(tmp_path, 10)
    run(offline_models, tmp_path / "store", write_catalog(tmp_path, rows))
    fewer = write_catalog(tmp_path, rows[:7])  # 3 of 10 books would go: 30 % > 20 %
    refused, store = run(offline_models, tmp_path / "store", fewer, prune=True)
    assert refused.pruned == 0 and len(store.all_ids()) == 10 and refused.exit_code == 2
    assert "3 of 10 books (30%)" in refused.report() and "b7, b8, b9" in refused.report()
    allowed, store = run(offline_models, tmp_path / "store", fewer, prune=True, prune_limit=0.5)
    assert allowed.pruned == 3 and allowed.exit_code == 0
    run(offline_models, tmp_path / "store", write_catalog(tmp_path, rows))
    forced, store = run(offline_models, tmp_path / "store", write_catalog(tmp_path, rows[:7]), prune=True, force=True)
    assert forced.pruned == 3 and sorted(store.all_ids()) == [f"b{i}" for i in range(7)]


def test_shards_ingest_every_book_exactly_once(offline_models, tmp_path):
    rows = good_rows(tmp_path, 12)
    catalog = write_catalog(tmp_path, rows)
    totals = [run(offline_models, tmp_path / "store", catalog, shard=(i, 3))[0].ingested for i in range(3)]
    assert sum(totals) == 12 and all(total > 0 for total in totals)
    _, store = run(offline_models, tmp_path / "store", catalog)
    assert sorted(store.all_ids()) == sorted(row["id"] for row in rows)
    assert [shard_of(f"b{i}", 3) for i in range(12)] == [shard_of(f"b{i}", 3) for i in range(12)]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        QuietHandler.requests.append(self.path)
        super().do_GET()


def test_cover_urls_are_downloaded_once_and_cached(offline_models, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    rows = good_rows(served, 3)
    handler = lambda *args: QuietHandler(*args, directory=str(served))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for row in rows:
        row["cover"] = f"{base}/{row['cover']}"
    rows.append({"id": "gone", "title": "Gone", "cover": f"{base}/missing.png"})
    rows.append({"id": "ftp", "title": "Elsewhere", "cover": "ftp://127.0.0.1/x.png"})
    catalog = write_catalog(tmp_path, rows)
    try:
        refused, _ = run(offline_models, tmp_path / "store", catalog)  # a loopback server needs permission
        assert refused.ingested == 0 and all("private address" in r.reason for r in refused.rejected[:3])
        assert QuietHandler.requests == []
        first, _ = run(offline_models, tmp_path / "store", catalog, allow_private_urls=True)
    finally:
        server.shutdown()
    assert first.ingested == 3
    reasons = {r.book_id: r.reason for r in first.rejected}
    assert "HTTP 404" in reasons["gone"] and "unsupported scheme" in reasons["ftp"]
    assert QuietHandler.requests.count("/c0.png") == 1
    second, _ = run(offline_models, tmp_path / "store", catalog)  # the server is down: the cache answers
    assert second.unchanged == 3


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


def test_cli_without_model_hub_says_how_to_provide_weights(tmp_path):
    out = cli(str(SAMPLE_CATALOG), "--profile", "clip", "--data-dir", str(tmp_path), "--no-progress")
    assert out.returncode == 2
    assert "Could not load CLIP weights ViT-B-32/laion2b_s34b_b79k" in out.stderr
    assert "FOLIO_CLIP_PRETRAINED" in out.stderr and "FOLIO_PROFILE=offline" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_reports_rejects_and_exit_code(tmp_path, sample_catalog):
    shutil.copytree(sample_catalog.parent / "covers", tmp_path / "covers")
    rows = list(csv.DictReader(sample_catalog.open()))[:3]
    rows.append({"id": "x", "title": "", "cover": "covers/sample-001.png"})
    catalog = write_catalog(tmp_path, rows)
    out = cli(str(catalog), "--profile", "offline", "--data-dir", str(tmp_path / "d"), "--no-progress")
    assert out.returncode == 3, out.stderr
    assert "ingested 3 new" in out.stdout and "1 rejected" in out.stdout and "missing title" in out.stdout
    assert (tmp_path / "d" / "rejects.jsonl").is_file()


def test_a_truncated_cover_is_decoded_and_flagged_and_an_unreadable_one_keeps_its_text(offline_models, tmp_path):
    rows = good_rows(tmp_path, 2)
    whole = tmp_path / "whole.jpg"
    draw_cover(tmp_path / "drawn.png", seed=7)
    Image.open(tmp_path / "drawn.png").save(whole, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(whole.read_bytes()[: whole.stat().st_size * 3 // 4])
    (tmp_path / "cut.webp").write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 40)
    rows.append({"id": "cut", "title": "The Torn Page", "description": "Half a harbour.", "cover": "cut.jpg"})
    rows.append({"id": "dead", "title": "The Lost Lantern", "description": "A drowned lamp.", "cover": "cut.webp"})
    summary, store = run(offline_models, tmp_path / "store", write_catalog(tmp_path, rows))
    assert summary.ingested == 4 and not summary.rejected
    stored = store.fetch(["cut", "dead"])
    assert stored["cut"].record.flags == ["truncated-cover"] and stored["cut"].cover_vector is not None
    assert stored["dead"].record.flags == ["unreadable-cover"] and stored["dead"].cover_vector is None
    assert stored["dead"].text_vector is not None and "drowned" in stored["dead"].record.description


@needs_shared_data
def test_real_truncated_romance_covers_land_with_their_covers(offline_models, tmp_path):
    isbns = ["9781420132830", "9781601835475", "9781648980091", "9781728217192"]
    listings = SHARED_DATA / "romance-covers" / "listings.csv"
    rows = [
        {"id": row["ISBN"], "title": row["title"], "author": row["author"], "cover": f"img_{row['ISBN']}.jpg"}
        for row in csv.DictReader(listings.open(encoding="utf-8"))
        if row["ISBN"] in isbns
    ]
    catalog = write_catalog(tmp_path, rows)
    summary, store = run(offline_models, tmp_path / "store", catalog, images_dir=listings.parent / "images")
    assert summary.ingested == 4 and not summary.rejected
    assert {flag.book_id for flag in summary.flagged} == set(isbns)
    assert store.covers.count() == 4
    assert all(book.record.flags == ["truncated-cover"] for book in store.fetch(isbns).values())


def stored_state(store: BookStore) -> dict[str, object]:
    """Everything the store holds about its books, comparable across stores."""
    texts = store.texts.get(include=["metadatas", "documents"])
    covers = store.covers.get(include=["metadatas", "embeddings"])
    return {
        "texts": sorted(zip(texts["ids"], texts["metadatas"], texts["documents"], strict=True)),
        "covers": sorted(
            (i, m, np.round(e, 5).tolist())
            for i, m, e in zip(covers["ids"], covers["metadatas"], covers["embeddings"], strict=True)
        ),
    }


def test_an_updated_book_equals_a_clean_ingest_of_it(offline_models, tmp_path):
    rows = good_rows(tmp_path, 3)
    Image.new("RGB", (300, 450), (255, 255, 255)).save(tmp_path / "blank.png")
    rows[2]["cover"] = "blank.png"  # b2 starts with a blank cover: flagged, no cover vector, no phash
    run(offline_models, tmp_path / "updated", write_catalog(tmp_path, rows))

    rows[0].update(author="", year="", description="")  # emptied fields
    rows[1]["cover"] = "blank.png"  # b1's cover became blank: flag on, phash and cover vector gone
    rows[2]["cover"] = "c2.png"  # b2's cover was fixed: flag off
    catalog = write_catalog(tmp_path, rows)
    summary, updated = run(offline_models, tmp_path / "updated", catalog)
    assert summary.updated == 3
    _, fresh = run(offline_models, tmp_path / "fresh", catalog)

    assert stored_state(updated) == stored_state(fresh)
    record = updated.fetch(["b0"])["b0"].record
    assert (record.author, record.year, record.description) == ("", None, "")
    books = updated.fetch(["b1", "b2"])
    assert books["b1"].record.flags == ["blank-cover"] and not books["b1"].record.phash
    assert books["b1"].cover_vector is None
    assert books["b2"].record.flags == [] and books["b2"].record.phash and books["b2"].cover_vector is not None


def test_cli_lands_the_rows_around_an_oversized_field_and_says_the_encoding_it_guessed(tmp_path):
    for i in range(3):
        draw_cover(tmp_path / f"c{i}.png", seed=i)
    lines = [
        "id,title,author,description,cover",
        "b0,Café Crème à Noël,Zoë Brontë,Un café.,c0.png",
        f"b1,Too Long,Ann Bell,{'mot ' * 2_500_000},c1.png",  # a 10 MB description
        "b2,Señorita,José Núñez,Una historia.,c2.png",
    ]
    catalog = tmp_path / "latin.csv"
    catalog.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    out = cli(str(catalog), "--profile", "offline", "--data-dir", str(tmp_path / "d"), "--no-progress")
    assert out.returncode == 3, out.stderr
    assert "ingested 2 new" in out.stdout and "1 rejected" in out.stdout and "too long" in out.stdout
    assert "not UTF-8: read as cp1252 (confidence" in out.stdout
    [reject] = [json.loads(line) for line in (tmp_path / "d" / "rejects.jsonl").read_text().splitlines()]
    assert reject["book_id"] == "b1" and reject["row"] == 3
    settings = Settings(profile="offline", data_dir=tmp_path / "d")
    loaded = load_models(settings, for_search=False)
    store = BookStore(settings, loaded.models.profile.name, loaded.models.identity)
    titles = {book.record.title for book in store.fetch(["b0", "b2"], with_vectors=False).values()}
    assert titles == {"Café Crème à Noël", "Señorita"}
