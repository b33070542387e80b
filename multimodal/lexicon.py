"""Fuzzy title/author matching: the lexical retriever (stage 1) and cross-scorer (stage 2).

Readers type titles from memory (a dropped word, a typo, the author's surname only) and OCR reads
a cover's title and author with noise, among taglines and blurbs. Two scores, cheap then precise:

- ``title_similarity`` (stage 1, and ``TitleIndex`` over the whole catalog): rapidfuzz's token-set
  ratio, 1.0 when every word of the shorter side appears in the longer one; C speed, but a word
  with a typo counts only through a whole-string comparison.
- ``title_match`` (stage 2, on the shortlist): the words of the query and of the book's title and
  author are aligned one by one, a misspelt word still counting for most of its length. The score
  is mostly the better of two coverages — the share of the query found in the book (what a reader
  types is part of the title and author) and the share of the book found in the query (a cover's
  text holds the title and author among other words) — and partly the other one, which prefers the
  book whose words the query uses most completely ("Blush" by the author typed over another "Blush").
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process, utils

from multimodal.records import BookRecord

MIN_FUZZY_LENGTH = 4  # shorter words ("a", "of", "the", "ann") must match exactly
MIN_WORD_SIMILARITY = 0.75  # below this two words are not the same word misspelt
LESSER_COVERAGE_WEIGHT = 0.2


def label(record: BookRecord) -> str:
    return f"{record.title} {record.author}".strip()


def title_similarity(query: str, record: BookRecord) -> float:
    """Stage 1: token-set similarity of a query and a book's title and author, in [0, 1]."""
    if not query.strip():
        return 0.0
    return fuzz.token_set_ratio(query, label(record), processor=utils.default_process) / 100.0


def title_match(query: str, record: BookRecord) -> float:
    """Stage 2: agreement of a query (typed or read off a cover) with a book's title and author, in [0, 1]."""
    asked, book = words(query), words(label(record))
    if not asked or not book:
        return 0.0
    similarity = word_similarities(asked, book)
    found_in_book = coverage(asked, similarity.max(axis=1))
    found_in_query = coverage(book, similarity.max(axis=0))
    better, lesser = max(found_in_book, found_in_query), min(found_in_book, found_in_query)
    return (1 - LESSER_COVERAGE_WEIGHT) * better + LESSER_COVERAGE_WEIGHT * lesser


def words(text: str) -> list[str]:
    return utils.default_process(text).split()


def word_similarities(rows: list[str], columns: list[str]) -> np.ndarray:
    """Similarity of every pair of words in [0, 1]: 1 when equal, a misspelling's share when close, else 0."""
    similarity = process.cdist(rows, columns, scorer=fuzz.ratio, dtype=np.float32) / 100.0
    too_short = np.minimum.outer(lengths(rows), lengths(columns)) < MIN_FUZZY_LENGTH
    similarity[(too_short & (similarity < 1.0)) | (similarity < MIN_WORD_SIMILARITY)] = 0.0
    return similarity


def lengths(tokens: list[str]) -> np.ndarray:
    return np.array([len(token) for token in tokens])


def coverage(tokens: list[str], found: np.ndarray) -> float:
    """The share of ``tokens`` found, each weighted by its length (long words say more than "a" or "of")."""
    weights = lengths(tokens)
    return float(np.dot(weights, found) / weights.sum())


@dataclass(frozen=True)
class TitleSnapshot:
    """The titles and authors of the store at one moment, with an index from words to books."""

    ids: list[str]
    labels: list[str]  # "title author", lower-cased and stripped of punctuation
    vocabulary: list[str]
    postings: dict[str, np.ndarray]  # word → indices of the labels that contain it
    size: int  # the store's size when this was read
    load_seconds: float

    @classmethod
    def build(cls, records: Iterable[BookRecord], size: int) -> TitleSnapshot:
        start = time.perf_counter()
        ids: list[str] = []
        labels: list[str] = []
        books_of: dict[str, list[int]] = defaultdict(list)
        for index, record in enumerate(records):
            ids.append(record.book_id)
            labels.append(utils.default_process(label(record)))
            for word in set(labels[-1].split()):
                books_of[word].append(index)
        postings = {word: np.array(books, dtype=np.int64) for word, books in books_of.items()}
        return cls(ids, labels, list(postings), postings, size, time.perf_counter() - start)

    def matching_words(self, asked: list[str]) -> set[str]:
        """The catalog's words that a query's words may stand for: equal, misspelt, or run together.

        Words shorter than ``MIN_FUZZY_LENGTH`` count only when the query has no longer word (a
        query of "the" and "love" is about "love"). OCR often runs words together ("EMILYSTONE"):
        a long word not in the catalog is also tried as two catalog words.
        """
        long_words = [word for word in asked if len(word) >= MIN_FUZZY_LENGTH]
        found = {word for word in (long_words or asked) if word in self.postings}
        if long_words and self.vocabulary:
            similarity = process.cdist(
                long_words, self.vocabulary, scorer=fuzz.ratio, score_cutoff=MIN_WORD_SIMILARITY * 100, dtype=np.uint8
            )
            found.update(self.vocabulary[column] for column in np.nonzero(similarity.any(axis=0))[0])
        for word in long_words:
            if word not in self.postings:
                for cut in range(MIN_FUZZY_LENGTH, len(word) - MIN_FUZZY_LENGTH + 1):
                    head, tail = word[:cut], word[cut:]
                    if head in self.postings and tail in self.postings:
                        found.update((head, tail))
        return found

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        words_found = self.matching_words(query.split())
        if not words_found:
            return []
        candidates = np.unique(np.concatenate([self.postings[word] for word in words_found]))
        matches = process.extract(query, [self.labels[i] for i in candidates], scorer=fuzz.token_set_ratio, limit=limit)
        return [(self.ids[candidates[position]], score / 100.0) for _, score, position in matches]


class TitleIndex:
    """All titles and authors of the store in memory, with a word index, kept up to date.

    A query only scores the books that share a word with it (a misspelt word counts), which is
    what makes fuzzy matching cheap at 100,000 books. At most every ``recheck_seconds`` the
    store's size is compared with the loaded one; when it changed, the index is read again — in
    line when the last read was quick (a small catalog), else in the background while queries
    use the previous index (a large catalog being ingested into while it is searched).
    """

    QUICK_LOAD_SECONDS = 0.5

    def __init__(
        self, load: Callable[[], Iterable[BookRecord]], size: Callable[[], int], recheck_seconds: float = 1.0
    ) -> None:
        self._load = load
        self._size = size
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._snapshot: TitleSnapshot | None = None
        self._checked_at = 0.0
        self._reloading = False

    def _read(self) -> TitleSnapshot:
        size = self._size()
        return TitleSnapshot.build(self._load(), size)

    def warm(self) -> None:
        """Read the index now (at start-up) rather than on the first query."""
        self._current()

    def _current(self) -> TitleSnapshot:
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self._read()
                self._checked_at = time.monotonic()
                return self._snapshot
            snapshot = self._snapshot
            if self._reloading or time.monotonic() - self._checked_at < self.recheck_seconds:
                return snapshot
            self._checked_at = time.monotonic()
            if self._size() == snapshot.size:
                return snapshot
            if snapshot.load_seconds <= self.QUICK_LOAD_SECONDS:
                self._snapshot = self._read()
                return self._snapshot
            self._reloading = True
        threading.Thread(target=self._reload_in_background, daemon=True, name="title-index").start()
        return snapshot

    def _reload_in_background(self) -> None:
        try:
            fresh = self._read()
            with self._lock:
                self._snapshot = fresh
        finally:
            with self._lock:
                self._reloading = False

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        """The best-matching books for a query, as (book id, similarity in [0, 1])."""
        query = utils.default_process(query)
        if not query:
            return []
        return self._current().search(query, limit)
