"""The full-text channel: BM25 over every text field of a book, with typo tolerance (tantivy).

What a reader types is often words of the book itself — the exact title, a surname, a run of words
remembered from the blurb — and a lexical engine finds those where an embedding blurs them. The
engine is tantivy (Lucene's design in Rust), chosen by measurement over SQLite FTS5 and bm25s
(docs/fulltext.md, ``benchmarks/fulltext_engines.py``). A query is, for each of its words:

- BM25 on every field, each with its boost (``FIELD_BOOSTS``: a title word says more than a blurb word);
- a fuzzy match (Levenshtein distance 1, 2 for long words) on title and author, for typos;
- and, for the whole query, a phrase bonus on the title and the description (words in order).

A long word that no title or author has but that splits into two that some have is read as those
two (OCR runs a cover's words together).

Text is folded before indexing and querying: lower case, accents dropped ("Perché" = "perche").

Where the index lives. Chroma stays the only store of record: the book records already hold every
field indexed here and the content hash. The full-text index is *derived* (``multimodal.derived``):
each process keeps it in a folder of its own data dir (``fulltext``; with a Chroma server, a local
cache) and brings it in step with the store by content hash. Processes sharing a folder share its work:
tantivy allows one writer at a time, and a process that finds the writer busy only reloads what the
other one committed.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import tantivy
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from multimodal.derived import SyncedIndex
from multimodal.records import BookRecord

log = logging.getLogger(__name__)

INDEX_VERSION = 1  # part of the folder name: a change of schema or analysis builds a new index
ANALYZER = "folded"
# How much a query word found in each field counts (multiplies that field's BM25 score).
FIELD_BOOSTS: dict[str, float] = {
    "title": 3.0,
    "author": 2.0,
    "subjects": 1.0,
    "publisher": 0.5,
    "description": 1.0,
    "cover_text": 1.0,
}
# Typo tolerance: the fields a misspelt word is looked for in, and what a fuzzy match counts
# (tantivy scores a fuzzy match as a constant, so this is its whole score).
FUZZY_BOOSTS: dict[str, float] = {"title": 6.0, "author": 6.0}
MIN_FUZZY_LENGTH = 4  # shorter words must match exactly
LONG_WORD_LENGTH = 8  # from this length, two edits are tolerated
# Words in the query's order: a bonus per field (slop: how many other words may come between).
PHRASE_BOOSTS: dict[str, tuple[float, int]] = {"title": (3.0, 1), "description": (4.0, 0)}
# A query is what a reader types (or a cover's text, or a whole book's text for "more like this"):
# the first MAX_QUERY_WORDS words count, and typos are forgiven in the first MAX_FUZZY_WORDS long ones.
MAX_QUERY_WORDS = 64
MAX_FUZZY_WORDS = 12
WRITER_HEAP_BYTES = 50_000_000


@dataclass(frozen=True)
class FullTextDocument:
    """What the index holds for one book: its id, content hash and text fields."""

    book_id: str
    content_hash: str
    title: str
    author: str = ""
    description: str = ""
    subjects: str = ""
    publisher: str = ""
    cover_text: str = ""

    @classmethod
    def of(cls, record: BookRecord) -> FullTextDocument:
        return cls(
            book_id=record.book_id,
            content_hash=record.content_hash,
            title=record.title,
            author=record.author,
            description=record.description,
            subjects=" ".join(part for part in (record.subjects, record.genre) if part),
            publisher=record.publisher,
            cover_text=record.cover_text,
        )

    def fields(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FIELD_BOOSTS if getattr(self, name)}


def typo_distance(word: str) -> int:
    """How many edits a word may be off and still count as the same word: none for a short word."""
    if len(word) < MIN_FUZZY_LENGTH:
        return 0
    return 2 if len(word) >= LONG_WORD_LENGTH else 1


def misspelt_in(word: str, names: list[str]) -> bool:
    """True when ``word`` is one of ``names`` with a typo (the fuzzy query's distance)."""
    distance = typo_distance(word)
    if not distance or not names:
        return False
    return process.extractOne(word, names, scorer=Levenshtein.distance, score_cutoff=distance) is not None


def folding_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def make_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("book_id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("content_hash", stored=True, tokenizer_name="raw", index_option="basic")
    for name in FIELD_BOOSTS:
        builder.add_text_field(name, stored=False, tokenizer_name=ANALYZER, index_option="position")
    return builder.build()


class FullTextIndex:
    """A tantivy index of books: in memory (``directory=None``) or in a folder."""

    def __init__(self, directory: Path | None = None) -> None:
        self.schema = make_schema()
        self.analyzer = folding_analyzer()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, None if directory is None else str(directory))
        self.index.register_tokenizer(ANALYZER, self.analyzer)
        self._write_lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------
    def apply(self, upserts: Iterable[FullTextDocument], deletions: Iterable[str] = ()) -> bool:
        """Add or replace ``upserts`` and drop ``deletions`` in one commit; False if another process writes."""
        with self._write_lock:
            try:
                writer = self.index.writer(WRITER_HEAP_BYTES, 1)
            except ValueError as error:  # LockBusy: another process holds the writer
                log.debug("full-text index busy (%s): reading what the other writer commits", error)
                self.index.reload()
                return False
            try:
                for book_id in deletions:
                    writer.delete_documents_by_term("book_id", book_id)
                for document in upserts:
                    writer.delete_documents_by_term("book_id", document.book_id)
                    writer.add_document(
                        tantivy.Document(
                            book_id=document.book_id, content_hash=document.content_hash, **document.fields()
                        )
                    )
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
        self.index.reload()
        return True

    def apply_records(self, changed: list[BookRecord], removed: list[str]) -> bool:
        return self.apply([FullTextDocument.of(record) for record in changed], removed)

    # -- reading ---------------------------------------------------------------------------
    def hashes(self) -> dict[str, str]:
        """Book id → content hash of every indexed book."""
        searcher = self.index.searcher()
        found = searcher.search(tantivy.Query.all_query(), limit=max(searcher.num_docs, 1), count=False)
        hashes = {}
        for _, address in found.hits:
            stored = searcher.doc(address)
            hashes[stored["book_id"][0]] = stored["content_hash"][0]
        return hashes

    def __len__(self) -> int:
        return self.index.searcher().num_docs

    def words(self, text: str) -> list[str]:
        """The query's words in order, folded as the index folds them."""
        return [token for token in self.analyzer.analyze(text) if token]

    def search(self, text: str, limit: int) -> list[tuple[str, float]]:
        """The best books for a query, as (book id, BM25 score), best first."""
        words = self.words(text)
        if not words or limit <= 0:
            return []
        searcher = self.index.searcher()
        words = self.split_run_together(searcher, words)
        found = searcher.search(self.query(words), limit=limit, count=False)
        return [(searcher.doc(address)["book_id"][0], float(score)) for score, address in found.hits]

    def split_run_together(self, searcher: tantivy.Searcher, words: list[str]) -> list[str]:
        """OCR runs a cover's words together ("EMILYSTONE"): a long word that no book has in any field is
        replaced by two words that titles or authors have, when it splits into such a pair. A word some
        book has is a word ("hardcover" in a blurb is not "hard cover")."""
        split: list[str] = []
        for word in words[:MAX_QUERY_WORDS]:
            if len(word) >= 2 * MIN_FUZZY_LENGTH and not self._in_any_field(searcher, word):
                for cut in range(MIN_FUZZY_LENGTH, len(word) - MIN_FUZZY_LENGTH + 1):
                    head, tail = word[:cut], word[cut:]
                    if self._in_title_or_author(searcher, head) and self._in_title_or_author(searcher, tail):
                        split += [head, tail]
                        break
                else:
                    split.append(word)
            else:
                split.append(word)
        return split

    @staticmethod
    def _in_title_or_author(searcher: tantivy.Searcher, word: str) -> bool:
        return any(searcher.doc_freq(field, word) for field in FUZZY_BOOSTS)

    @staticmethod
    def _in_any_field(searcher: tantivy.Searcher, word: str) -> bool:
        return any(searcher.doc_freq(field, word) for field in FIELD_BOOSTS)

    def coverage(self, text: str, documents: list[FullTextDocument]) -> list[float]:
        """For each book, the share of the query's words it has (misspelt in its title or author counts),
        each word weighted by its rarity (IDF): 1.0 when the book has every word, low when it shares
        only common ones ("the", "of"). An absolute measure, where BM25 scores are relative."""
        searcher = self.index.searcher()
        words = set(self.split_run_together(searcher, self.words(text)))
        if not words:
            return [0.0] * len(documents)
        books = max(searcher.num_docs, 1)
        rarity = {
            word: math.log(1 + books / (1 + max(searcher.doc_freq(field, word) for field in FIELD_BOOSTS)))
            for word in words
        }
        total = sum(rarity.values())
        shares = []
        for document in documents:
            tokens = set(self.analyzer.analyze(" ".join(document.fields().values())))
            names = self.analyzer.analyze(f"{document.title} {document.author}")
            found = sum(weight for word, weight in rarity.items() if word in tokens or misspelt_in(word, names))
            shares.append(found / total)
        return shares

    def known_share(self, text: str) -> float:
        """The share of the query's words that some indexed book has, or misspelt (0 for unknown words)."""
        words = set(self.words(text))
        if not words:
            return 0.0
        searcher = self.index.searcher()
        return sum(self._is_known(searcher, word) for word in words) / len(words)

    def _is_known(self, searcher: tantivy.Searcher, word: str) -> bool:
        if self._in_any_field(searcher, word):
            return True
        fuzzy = [(tantivy.Occur.Should, query) for _, query in self._fuzzy_queries(word)]
        return bool(fuzzy) and bool(searcher.search(tantivy.Query.boolean_query(fuzzy), limit=1, count=False).hits)

    def _fuzzy_queries(self, word: str) -> list[tuple[str, tantivy.Query]]:
        """(field, the word misspelt in it) for each field typos are forgiven in; none for a short word."""
        distance = typo_distance(word)
        if not distance:
            return []
        return [
            (field, tantivy.Query.fuzzy_term_query(self.schema, field, word, distance, True, False))
            for field in FUZZY_BOOSTS
        ]

    def query(self, words: list[str]) -> tantivy.Query:
        schema, boost = self.schema, tantivy.Query.boost_query
        should = tantivy.Occur.Should
        clauses = []
        fuzzy_budget = MAX_FUZZY_WORDS
        for word in dict.fromkeys(words[:MAX_QUERY_WORDS]):
            for field, weight in FIELD_BOOSTS.items():
                clauses.append((should, boost(tantivy.Query.term_query(schema, field, word), weight)))
            if fuzzy_budget > 0:
                fuzzy = self._fuzzy_queries(word)
                fuzzy_budget -= bool(fuzzy)
                clauses += [(should, boost(query, FUZZY_BOOSTS[field])) for field, query in fuzzy]
        if 2 <= len(words) <= MAX_QUERY_WORDS:
            for field, (weight, slop) in PHRASE_BOOSTS.items():
                phrase = tantivy.Query.phrase_query(schema, field, words, slop)
                clauses.append((should, boost(phrase, weight)))
        return tantivy.Query.boolean_query(clauses)


class StoreFullText(SyncedIndex[FullTextIndex]):
    """The full-text index of a store's books, kept in step with the store by content hash
    (``multimodal.derived.SyncedIndex``)."""

    name = "full-text index"
    folder = "fulltext"
    version = INDEX_VERSION

    def open_index(self, directory: Path | None) -> FullTextIndex:
        return FullTextIndex(directory)

    def search(self, text: str, limit: int) -> list[tuple[str, float]]:
        return self.current().search(text, limit)

    def coverage(self, text: str, documents: list[FullTextDocument]) -> list[float]:
        return self.index.coverage(text, documents)

    def known_share(self, text: str) -> float:
        return self.index.known_share(text)
