"""Two-stage search.

Stage 1 (fast): the query is embedded, each channel (query text → book texts, query image →
covers, text read off the query cover → book texts, and across modalities when the profile
shares one space) returns its nearest books from Chroma, and fuzzy title/author matching adds
its best books. The candidates are merged by book and ordered by a weighted mean of their
exact vector similarities (``stage1_weights`` of the profile).

Stage 2 (slower, more accurate): each of the best ``cross_score_top`` candidates is scored as a
pair with the query: the cross-encoder reads (query, book text), title/author agreement is
measured for the typed query and for the text read off the cover, and perceptual hashes compare
the covers. A weighted mean of all signals (``stage2_weights``) reorders the shortlist.

Signals are standardised over the candidates before they are weighted (see ``fuse``), and only
the signals a query has count, so text, image and combined queries share one formula.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from multimodal.batching import Batcher
from multimodal.fingerprint import phash, phash_similarity
from multimodal.images import ImageSource, load_image
from multimodal.lexicon import TitleIndex, title_match, title_similarity
from multimodal.models import Models
from multimodal.settings import Settings
from multimodal.store import BookStore, StoredBook


@dataclass
class Hit:
    """One book in a result list, with the scores of both stages and the signals behind them."""

    rank: int
    book_id: str
    title: str
    author: str
    year: int | None
    genre: str
    isbn: str
    cover: str
    description: str
    score: float  # what the list is ordered by: stage 2 when cross-scored, else stage 1 (relative)
    relevance: float  # absolute match strength in [0, 1]: what a minimum score cuts on
    stage1_score: float
    stage1_rank: int
    stage2_score: float | None
    signals: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResult:
    hits: list[Hit]
    timings_ms: dict[str, float]
    cross_scored: bool
    profile: str
    candidates: int
    cover_text: str = ""  # what OCR read on the query image

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hits": [hit.to_dict() for hit in self.hits]}


@dataclass
class SearchFilters:
    genre: str | None = None
    author: str | None = None
    year_min: int | None = None
    year_max: int | None = None

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.genre:
            clauses.append({"genre": self.genre})
        if self.author:
            clauses.append({"author": self.author})
        if self.year_min is not None:
            clauses.append({"year": {"$gte": self.year_min}})
        if self.year_max is not None:
            clauses.append({"year": {"$lte": self.year_max}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def admits(self, book: StoredBook) -> bool:
        record = book.record
        return (
            (not self.genre or record.genre == self.genre)
            and (not self.author or record.author == self.author)
            and (self.year_min is None or (record.year is not None and record.year >= self.year_min))
            and (self.year_max is None or (record.year is not None and record.year <= self.year_max))
        )


@dataclass
class EncodedQuery:
    text: str
    text_vector: np.ndarray | None = None
    image_vector: np.ndarray | None = None
    image_phash: str = ""
    cover_text: str = ""
    cover_text_vector: np.ndarray | None = None


@dataclass
class Shortlist:
    """Stage 1's candidates: each vector channel's books with their similarity, and the title matches."""

    similarities: dict[str, dict[str, float]] = field(default_factory=dict)  # channel → book id → cosine
    by_title: set[str] = field(default_factory=set)

    def ids(self) -> set[str]:
        return set(self.by_title).union(*self.similarities.values())


class Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000


def relevance(signals: dict[str, float], weights: dict[str, float]) -> float:
    """How well a book matches in absolute terms: the weighted mean of its raw signals, in [0, 1].

    Fused scores are relative to the other candidates (the best of a nonsense query still scores
    high); relevance is not, so a minimum relevance can say "nothing matches".
    """
    used = {name: weight for name, weight in weights.items() if name in signals}
    total = sum(used.values())
    mean = sum(min(max(signals[name], 0.0), 1.0) * weight for name, weight in used.items()) / total if total else 0.0
    return mean


MIN_SPREAD = 0.02  # signals are similarities in about [0, 1]


def fuse(signals: list[dict[str, float]], weights: dict[str, float]) -> list[float]:
    """Fuse each candidate's signals into one score in (0, 1).

    Signals live on different scales (CLIP image-to-image cosines sit near 1, image-to-text
    cosines near 0.25), so each signal is standardised over the candidates (z-score) before the
    weighted mean. Differences below ``MIN_SPREAD`` are noise, not evidence: a signal that barely
    varies is not blown up to the scale of one that does. A candidate missing a
    signal (a book with no cover vector) gets that signal's lowest z. The mean goes through a
    logistic, so 0.5 is an average candidate and a clear match is near 1.
    """
    fused = np.zeros(len(signals))
    total = 0.0
    for name, weight in weights.items():
        values = np.array([entry.get(name, np.nan) for entry in signals], dtype=np.float64)
        present = ~np.isnan(values)
        if not present.any():
            continue
        spread = max(values[present].std(), MIN_SPREAD)
        z = (values - values[present].mean()) / spread
        z[~present] = z[present].min()
        fused += weight * z
        total += weight
    fused = fused / total if total else fused
    return list(1.0 / (1.0 + np.exp(-fused)))


class Searcher:
    def __init__(self, models: Models, store: BookStore, settings: Settings) -> None:
        self.models = models
        self.store = store
        self.settings = settings
        self.profile = models.profile
        self.titles = TitleIndex(store.iter_records, store.count)
        # Concurrent queries share forwards (see multimodal.batching); ingest calls the models directly.
        share = Batcher if settings.share_forwards else lambda run, name: run
        self.encode_texts = share(models.text_encoder.encode_texts, "text encoder")
        self.encode_images = share(models.image_encoder.encode_prepared, "image encoder")
        scorer = models.cross_scorer
        self.score_pairs = share(scorer.score_pairs, "cross-encoder") if scorer is not None else None

    # -- stage 0: the query ------------------------------------------------------------------
    def encode(self, text: str, image: Image.Image | None) -> EncodedQuery:
        query = EncodedQuery(text=text.strip())
        if query.text:
            query.text_vector = self.encode_texts([query.text])[0]
        if image is not None:
            query.image_vector = self.encode_images([self.models.image_encoder.prepare(image)])[0]
            query.image_phash = phash(image)
            if self.models.cover_reader is not None:
                query.cover_text = self.models.cover_reader.read(image)
            if query.cover_text:
                query.cover_text_vector = self.encode_texts([query.cover_text])[0]
        return query

    # -- stage 1 -----------------------------------------------------------------------------
    def channels(self, query: EncodedQuery) -> list[tuple[str, str, np.ndarray]]:
        """(signal name, collection, query vector) for each vector channel this query has."""
        shared = self.profile.shared_space
        wanted = [
            ("text_vs_text", "texts", query.text_vector),
            ("text_vs_cover", "covers", query.text_vector if shared else None),
            ("image_vs_cover", "covers", query.image_vector),
            ("image_vs_text", "texts", query.image_vector if shared else None),
            ("ocr_vs_text", "texts", query.cover_text_vector),
        ]
        return [(name, collection, vector) for name, collection, vector in wanted if vector is not None]

    def shortlist(self, query: EncodedQuery, filters: SearchFilters, timer: Timer) -> Shortlist:
        n = self.settings.shortlist
        shortlist = Shortlist()
        where = filters.where()
        with timer.stage("vector_search"):
            for name, collection, vector in self.channels(query):
                shortlist.similarities[name] = dict(self.store.nearest(collection, vector, n, where))
        with timer.stage("title_search"):
            for words in (query.text, query.cover_text):
                if words:
                    shortlist.by_title.update(book_id for book_id, _ in self.titles.search(words, n))
        return shortlist

    def candidates(
        self, query: EncodedQuery, shortlist: Shortlist, filters: SearchFilters, exclude: str
    ) -> list[StoredBook]:
        """The shortlisted books, read with the vectors that their signals still need."""
        ids = shortlist.ids() - {exclude}
        unknown: dict[str, set[str]] = {"texts": set(), "covers": set()}
        for name, collection, _ in self.channels(query):
            unknown[collection] |= ids - shortlist.similarities[name].keys()
        books = self.store.read_candidates(sorted(ids), unknown["texts"], unknown["covers"], filters.where())
        return [book for book in books.values() if filters.admits(book)]

    def vector_signals(self, query: EncodedQuery, book: StoredBook, shortlist: Shortlist) -> dict[str, float]:
        """Each channel's similarity: as the channel returned it, else computed from the book's vector."""
        stored = {"texts": book.text_vector, "covers": book.cover_vector}
        signals = {}
        for name, collection, vector in self.channels(query):
            known = shortlist.similarities[name].get(book.record.book_id)
            if known is not None:
                signals[name] = known
            elif stored[collection] is not None:  # a book with a blank cover has no cover vector: no signal
                signals[name] = float(np.dot(vector, stored[collection]))
        return signals

    @staticmethod
    def lexical_signals(query: EncodedQuery, book: StoredBook) -> dict[str, float]:
        """The title/author channel's similarity, for every candidate as for the vector channels."""
        wanted = (("title_search", query.text), ("ocr_title_search", query.cover_text))
        return {name: title_similarity(words, book.record) for name, words in wanted if words}

    # -- stage 2 -----------------------------------------------------------------------------
    def pair_signals(self, query: EncodedQuery, books: list[StoredBook]) -> list[dict[str, float]]:
        signals: list[dict[str, float]] = [{} for _ in books]
        if query.text and self.score_pairs is not None:
            pairs = [(query.text, book.record.document) for book in books]
            for entry, score in zip(signals, self.score_pairs(pairs), strict=True):
                entry["cross_encoder"] = float(score)
        for entry, book in zip(signals, books, strict=False):
            if query.text:
                entry["title_match"] = title_match(query.text, book.record)
            if query.cover_text:
                entry["ocr_title_match"] = title_match(query.cover_text, book.record)
            if query.image_phash:
                entry["perceptual"] = (
                    phash_similarity(query.image_phash, book.record.phash) if book.record.phash else 0.0
                )
        return signals

    # -- the whole search --------------------------------------------------------------------
    def search(
        self,
        text: str = "",
        image: ImageSource | None = None,
        k: int | None = None,
        cross_score: bool = True,
        min_score: float | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        timer = Timer()
        started = time.perf_counter()
        with timer.stage("encode"):
            picture = load_image(image) if image is not None else None
            query = self.encode(text, picture)
        return self.run(query, timer, started, k, cross_score, min_score, filters)

    def more_like(
        self,
        book_id: str,
        by: str = "cover",
        k: int | None = None,
        cross_score: bool = True,
        min_score: float | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        """Books like a catalog book, by its cover (``by="cover"``) or its description (``"description"``).

        The book's stored vectors are the query, so nothing is encoded; the book itself is left out.
        Raises KeyError for an unknown id and ValueError when the book has no cover to compare.
        """
        timer = Timer()
        started = time.perf_counter()
        found = self.store.fetch([book_id]).get(book_id)
        if found is None:
            raise KeyError(book_id)
        if by == "cover":
            if found.cover_vector is None:
                raise ValueError(f"book {book_id!r} has no usable cover")
            query = EncodedQuery(text="", image_vector=found.cover_vector, image_phash=found.record.phash)
        elif by == "description":
            query = EncodedQuery(text=found.record.document, text_vector=found.text_vector)
        else:
            raise ValueError(f"more_like: by must be 'cover' or 'description', not {by!r}")
        k = k or self.settings.results
        result = self.run(query, timer, started, k + 1, cross_score, min_score, filters, exclude=book_id)
        result.hits = result.hits[:k]
        return result

    def run(
        self,
        query: EncodedQuery,
        timer: Timer,
        started: float,
        k: int | None,
        cross_score: bool,
        min_score: float | None,
        filters: SearchFilters | None,
        exclude: str = "",
    ) -> SearchResult:
        """Stages 1 and 2 for an encoded query."""
        k = k or self.settings.results
        filters = filters or SearchFilters()
        min_score = self.settings.min_score if min_score is None else min_score
        if not query.text and query.image_vector is None:
            return SearchResult([], timer.ms, cross_score, self.profile.name, 0)

        shortlist = self.shortlist(query, filters, timer)
        with timer.stage("merge"):
            books = self.candidates(query, shortlist, filters, exclude)
            signals = [
                self.vector_signals(query, book, shortlist) | self.lexical_signals(query, book) for book in books
            ]
            stage1 = fuse(signals, self.profile.stage1_weights)
            order = sorted(range(len(books)), key=lambda i: -stage1[i])
            stage1_rank = {i: rank for rank, i in enumerate(order, start=1)}

        stage2: dict[int, float] = {}
        if cross_score and order:
            with timer.stage("cross_score"):
                top = order[: self.settings.cross_score_top]
                for i, extra in zip(top, self.pair_signals(query, [books[i] for i in top]), strict=True):
                    signals[i].update(extra)
                stage2 = dict(zip(top, fuse([signals[i] for i in top], self.profile.stage2_weights), strict=True))
                order = sorted(top, key=lambda i: -stage2[i]) + order[len(top) :]

        def relevance_of(i: int) -> float:
            weights = self.profile.stage2_weights if i in stage2 else self.profile.stage1_weights
            return relevance(signals[i], weights)

        kept = [i for i in order if relevance_of(i) >= min_score][:k]
        hits = [
            self._hit(
                rank,
                books[i],
                stage2.get(i, stage1[i]),
                relevance_of(i),
                stage1[i],
                stage1_rank[i],
                stage2.get(i),
                signals[i],
            )
            for rank, i in enumerate(kept, start=1)
        ]
        timer.ms["total"] = (time.perf_counter() - started) * 1000
        return SearchResult(hits, timer.ms, bool(stage2), self.profile.name, len(books), query.cover_text)

    @staticmethod
    def _hit(
        rank: int,
        book: StoredBook,
        score: float,
        relevance: float,
        stage1_score: float,
        stage1_rank: int,
        stage2_score: float | None,
        signals: dict[str, float],
    ) -> Hit:
        record = book.record
        return Hit(
            rank=rank,
            book_id=record.book_id,
            title=record.title,
            author=record.author,
            year=record.year,
            genre=record.genre,
            isbn=record.isbn,
            cover=record.cover,
            description=record.description,
            score=round(float(score), 4),
            relevance=round(float(relevance), 4),
            stage1_score=round(float(stage1_score), 4),
            stage1_rank=stage1_rank,
            stage2_score=None if stage2_score is None else round(float(stage2_score), 4),
            signals={name: round(float(value), 4) for name, value in signals.items()},
            flags=record.flags,
        )


SearchFunction = Callable[..., SearchResult]
