"""The full-text channel (multimodal/fulltext.py): ranking, folding, typos, phrases, and its sync with the store."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FakeStore

from multimodal.fulltext import FullTextDocument, FullTextIndex, StoreFullText
from multimodal.store import BookRecord

BOOKS = [
    FullTextDocument("collina", "h1", "Sulla collina nera", "Bruce Chatwin", "Due gemelli nel Galles, una fattoria."),
    FullTextDocument("nera", "h2", "La scatola nera", "Amos Oz", "Un romanzo epistolare sulla collina di Gerusalemme."),
    FullTextDocument("siepe", "h3", "Il buio oltre la siepe", "Harper Lee", "Scout Finch cresce in Alabama."),
    FullTextDocument("perche", "h4", "Perché il vetro è trasparente", "Autori Vari", "Domande di fisica."),
    FullTextDocument(
        "blurb",
        "h5",
        "Lighthouse Nights",
        "Mara Quill",
        "A keeper and his daughter tend the lamp through a long winter. " * 20
        + "At the very end the storm carries away the harbour master's silver boat.",
    ),
    FullTextDocument(
        "scattered", "h6", "Tides", "Ann Fell", "Silver harbour boat: the master of the storm carries it away."
    ),
]


@pytest.fixture
def index() -> FullTextIndex:
    built = FullTextIndex()
    built.apply(BOOKS)
    return built


def first(index: FullTextIndex, query: str) -> str:
    found = index.search(query, 5)
    assert found, f"nothing found for {query!r}"
    return found[0][0]


def test_exact_title_and_surname_comes_first(index: FullTextIndex) -> None:
    assert first(index, "sulla collina nera chatwin") == "collina"
    assert first(index, "Il buio oltre la siepe") == "siepe"


def test_a_title_word_counts_more_than_the_same_word_in_a_blurb(index: FullTextIndex) -> None:
    # "collina" is in one title and in another book's description
    assert first(index, "collina") == "collina"


def test_case_and_accents_are_folded(index: FullTextIndex) -> None:
    assert first(index, "PERCHE il VETRO") == "perche"
    assert first(index, "perché") == "perche"


def test_a_typo_in_title_or_surname_still_finds_the_book(index: FullTextIndex) -> None:
    assert first(index, "colina nera chatwn") == "collina"
    assert first(index, "buio oltre la sipe") == "siepe"


def test_words_at_the_end_of_a_long_blurb_are_found_and_order_counts(index: FullTextIndex) -> None:
    # the same words, in another order, are in another book's much shorter blurb: the run in order wins
    assert first(index, "the storm carries away the harbour master's silver boat") == "blurb"


def test_a_query_of_unknown_words_finds_nothing(index: FullTextIndex) -> None:
    assert index.search("xqzvw plorkt", 5) == []
    assert index.known_share("xqzvw plorkt") == 0.0
    assert index.known_share("collina xqzvw") == 0.5


def test_apply_replaces_and_deletes_by_book_id(index: FullTextIndex) -> None:
    index.apply([replace(BOOKS[0], title="Le vie dei canti", content_hash="h1b")], deletions=["siepe"])
    assert len(index) == len(BOOKS) - 1
    assert index.hashes()["collina"] == "h1b"
    assert first(index, "vie dei canti") == "collina"
    assert "siepe" not in {book_id for book_id, _ in index.search("buio oltre la siepe", 10)}


def record(book_id: str, title: str, content_hash: str, **fields: str) -> BookRecord:
    return BookRecord(book_id=book_id, title=title, content_hash=content_hash, **fields)


def synced(store: FakeStore, folder: Path | None) -> StoreFullText:
    return StoreFullText(store.iter_records, store.generation, folder, recheck_seconds=0.0)


def test_sync_adds_replaces_and_drops_by_content_hash(tmp_path: Path) -> None:
    store = FakeStore([record("a", "Storm Front", "1"), record("b", "Quiet Harbour", "1", author="Ann Lee")])
    fulltext = synced(store, tmp_path / "index")
    report = fulltext.sync()
    assert (report.added, report.replaced, report.removed, report.books) == (2, 0, 0, 2)

    store.put(record("b", "Loud Harbour", "2", author="Ann Lee"))
    store.remove("a")
    store.put(record("c", "Storm Warning", "1"))
    report = fulltext.sync()
    assert (report.added, report.replaced, report.removed) == (1, 1, 1)
    assert fulltext.index.hashes() == {"b": "2", "c": "1"}
    assert fulltext.sync().added == fulltext.sync().replaced == 0  # nothing changed: nothing written


def test_searches_see_store_changes_without_an_explicit_sync() -> None:
    store = FakeStore([record("a", "Storm Front", "1")])
    fulltext = synced(store, None)
    assert [book_id for book_id, _ in fulltext.search("storm", 5)] == ["a"]
    store.put(record("b", "Storm Warning", "1"))
    assert {book_id for book_id, _ in fulltext.search("storm", 5)} == {"a", "b"}


def test_an_index_left_behind_by_a_killed_run_is_repaired_by_the_next_sync(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    # what a crash can leave: an entry with an old hash, one for a book no longer stored, one missing
    stale = FullTextIndex(folder)
    stale.apply(
        [
            FullTextDocument("a", "old", "Storm Front"),
            FullTextDocument("gone", "1", "Deleted Book"),
        ]
    )
    del stale
    store = FakeStore([record("a", "Storm Front Revised", "new"), record("b", "Quiet Harbour", "1")])
    fulltext = synced(store, folder)  # a new process opens the same folder
    report = fulltext.sync()
    assert (report.added, report.replaced, report.removed) == (1, 1, 1)
    assert fulltext.index.hashes() == {"a": "new", "b": "1"}
    assert first(fulltext.index, "revised") == "a"


def test_a_second_process_on_the_same_folder_reads_while_the_first_writes(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    writer_side = FullTextIndex(folder)
    reader_side = FullTextIndex(folder)
    held = writer_side.index.writer(15_000_000, 1)  # another process in the middle of a sync
    assert reader_side.apply([FullTextDocument("a", "1", "Storm Front")]) is False
    held.add_document(__import__("tantivy").Document(book_id="b", content_hash="1", title="Quiet Harbour"))
    held.commit()
    del held
    reader_side.index.reload()
    assert first(reader_side, "harbour") == "b"
    assert reader_side.apply([FullTextDocument("a", "1", "Storm Front")]) is True


def test_documents_carry_publisher_subjects_genre_and_cover_text() -> None:
    book = BookRecord(book_id="x", title="T", genre="travel", cover_text="EMILY STONE")
    document = FullTextDocument.of(book)
    assert "travel" in document.subjects and document.cover_text == "EMILY STONE"
    index = FullTextIndex()
    index.apply([document, FullTextDocument("y", "1", "Other")])
    assert first(index, "emily stone") == "x"
    assert first(index, "travel") == "x"


def test_words_run_together_by_ocr_still_find_the_book(index: FullTextIndex) -> None:
    assert first(index, "SULLANERA BRUCECHATWIN") == "collina"


def test_a_word_some_book_has_is_not_read_as_two_run_together() -> None:
    # "hardcover" splits into two title words, but a blurb has it: a reader quoting the blurb means it
    blurb = FullTextDocument("blurb", "1", "Highland Dawn", "M. Moning", "A hardcover reissue of her early novella.")
    index = FullTextIndex()
    index.apply(
        [
            blurb,
            FullTextDocument("hard", "2", "Hard Choices", "A. Writer", "Two rivals."),
            FullTextDocument("cover", "3", "Under Cover", "B. Writer", "A spy story."),
        ]
    )
    assert first(index, "this hardcover reissue of her early") == "blurb"
    assert index.coverage("hardcover reissue of her early", [blurb]) == [1.0]


def test_a_slow_sync_runs_in_the_background_and_queries_keep_the_old_index() -> None:
    store = FakeStore([record("a", "Winter Orchard", "1")])
    fulltext = synced(store, None)
    fulltext.warm()
    fulltext.QUICK_SYNC_SECONDS = -1.0  # every sync now counts as slow
    store.read_seconds = 0.3
    store.put(record("b", "The Lighthouse Keeper", "1"))
    started = time.perf_counter()
    assert fulltext.search("lighthouse keeper", 5) == []  # answered from the index as it is, at once
    assert time.perf_counter() - started < 0.2
    deadline = time.monotonic() + 5
    while not fulltext.search("lighthouse keeper", 5) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fulltext.search("lighthouse keeper", 5)[0][0] == "b"
