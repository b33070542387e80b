"""Fuzzy title/author matching: the lexical retriever and cross-scorer.

Readers type titles from memory (a dropped word, a typo) and OCR reads titles with noise;
rapidfuzz's token-set similarity is 1.0 when every word of the shorter side appears in the
longer one, and degrades gently with misspellings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from rapidfuzz import fuzz, process, utils

from multimodal.store import BookRecord


def label(record: BookRecord) -> str:
    return f"{record.title} {record.author}".strip()


def title_match(query: str, record: BookRecord) -> float:
    """Agreement of a query (typed or read off a cover) with a book's title and author, in [0, 1]."""
    if not query.strip():
        return 0.0
    return fuzz.token_set_ratio(query, label(record), processor=utils.default_process) / 100.0


class TitleIndex:
    """All titles and authors of the store in memory, refreshed when the store's size changes."""

    def __init__(self, load: Callable[[], Iterable[BookRecord]], size: Callable[[], int]) -> None:
        self._load = load
        self._size = size
        self._lock = threading.Lock()
        self._ids: list[str] = []
        self._labels: list[str] = []
        self._loaded_size = -1

    def _refresh(self) -> None:
        size = self._size()
        if size == self._loaded_size:
            return
        with self._lock:
            records = list(self._load())
            self._ids = [record.book_id for record in records]
            self._labels = [utils.default_process(label(record)) for record in records]
            self._loaded_size = size

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        """The best-matching books for a query, as (book id, similarity in [0, 1])."""
        query = utils.default_process(query)
        if not query:
            return []
        self._refresh()
        matches = process.extract(query, self._labels, scorer=fuzz.token_set_ratio, limit=limit)
        return [(self._ids[index], score / 100.0) for _, score, index in matches]
