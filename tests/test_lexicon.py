"""The fuzzy title index: its word index finds what a scan of every title finds, and it stays fresh."""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path

from rapidfuzz import fuzz, process, utils

from multimodal.lexicon import TitleIndex, label
from multimodal.store import BookRecord


def sample_records(catalog: Path) -> list[BookRecord]:
    with catalog.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    return [BookRecord(row["id"], row["title"], row["author"], row["description"]) for row in rows]


def full_scan(records: list[BookRecord], query: str, limit: int) -> list[tuple[str, float]]:
    """What the index replaces: token-set similarity against every title and author."""
    labels = [utils.default_process(label(record)) for record in records]
    matches = process.extract(utils.default_process(query), labels, scorer=fuzz.token_set_ratio, limit=limit)
    return [(records[index].book_id, score / 100.0) for _, score, index in matches]


def misspell(word: str, rng: random.Random) -> str:
    position = rng.randrange(1, len(word) - 1)
    return word[:position] + word[position + 1] + word[position] + word[position + 2 :]  # swap two letters


def typed_from_memory(record: BookRecord, rng: random.Random) -> str:
    """Two title words (one misspelt when long enough) and the author's surname."""
    title_words = [word for word in record.title.split() if len(word) >= 3][:2]
    if len(title_words[0]) >= 6:
        title_words[0] = misspell(title_words[0], rng)
    return " ".join([*title_words, record.author.split()[-1]])


def test_indexed_search_agrees_with_a_full_scan(sample_catalog: Path) -> None:
    records = sample_records(sample_catalog)
    index = TitleIndex(lambda: records, lambda: len(records))
    rng = random.Random(7)
    for record in records:
        query = typed_from_memory(record, rng)
        indexed = index.search(query, 10)
        scanned = full_scan(records, query, 10)
        assert indexed[0][0] == record.book_id, (query, indexed[:3])
        assert indexed[0][1] == scanned[0][1], query  # the best match and its score are the scan's
        # Every book the scan ranks as a real match (most of a word in common) is in the index's answer.
        strong = {book_id for book_id, score in scanned if score >= 0.7}
        assert strong <= {book_id for book_id, _ in indexed}, query


def test_words_run_together_by_ocr_still_find_the_book(sample_catalog: Path) -> None:
    records = sample_records(sample_catalog)
    index = TitleIndex(lambda: records, lambda: len(records))
    record = records[0]  # "Letters to Saltmarsh Lane" by Odile Varnecke
    surname = record.author.split()[-1]
    ocr_text = f"{record.title.split()[0]}{record.title.split()[-1]} {record.author.split()[0]}{surname}".upper()
    assert index.search(ocr_text, 5)[0][0] == record.book_id, ocr_text


def test_a_query_sharing_no_word_with_the_catalog_finds_nothing(sample_catalog: Path) -> None:
    records = sample_records(sample_catalog)
    index = TitleIndex(lambda: records, lambda: len(records))
    assert index.search("qwxz plmkjn", 10) == []


def test_new_books_are_found_once_the_store_grows() -> None:
    records = [BookRecord("a", "Winter Orchard", "Mara Quell")]
    index = TitleIndex(lambda: list(records), lambda: len(records), recheck_seconds=0.0)
    assert index.search("orchard", 5)[0][0] == "a"
    assert index.search("lighthouse keeper", 5) == []
    records.append(BookRecord("b", "The Lighthouse Keeper", "Ivo Brand"))
    assert index.search("lighthouse keeper", 5)[0][0] == "b"  # a quick index is re-read in line


def test_a_slow_reload_runs_in_the_background_and_queries_keep_the_old_index() -> None:
    records = [BookRecord("a", "Winter Orchard", "Mara Quell")]
    reads = 0

    def slow_load() -> list[BookRecord]:
        nonlocal reads
        reads += 1
        if reads > 1:
            time.sleep(0.3)
        return list(records)

    index = TitleIndex(slow_load, lambda: len(records), recheck_seconds=0.0)
    index.warm()
    assert reads == 1
    index.QUICK_LOAD_SECONDS = -1.0  # every read now counts as slow
    records.append(BookRecord("b", "The Lighthouse Keeper", "Ivo Brand"))
    started = time.perf_counter()
    assert index.search("lighthouse keeper", 5) == []  # answered from the old index, at once
    assert time.perf_counter() - started < 0.2
    deadline = time.monotonic() + 5
    while not index.search("lighthouse keeper", 5) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert index.search("lighthouse keeper", 5)[0][0] == "b"
    assert reads == 2
