"""Two-stage search, driven by the signal registry (``multimodal.signals``).

Stage 1 (fast): the query is embedded, and each registered channel this query has returns its best
books: the vector channels from the store (query text → book texts, query image → covers, text read
off the query cover → book texts, and across modalities when the profile shares one space), the
full-text channels from the full-text index (``multimodal.fulltext``: the typed words, and the words
read off the cover, against every word of every book), and for a photo the cover-feature channel
(``multimodal.cover_features``: the photo's local features vote for the covers that have them). The
candidates are merged by book and ordered
by *reciprocal-rank fusion* of the channels with the profile's ``stage1_weights``: ranks, not raw
scores, so no channel's scale drowns another's.

Stage 2 (slower, more accurate): the best ``cross_score_top`` candidates — always including every
channel's first book, whatever the other channels think — are scored as pairs with the query by
every registered pair signal the profile weighs (the cross-encoder, title/author agreement for the
typed words and for the cover's text, perceptual hashes of the covers), and all their signals (the
channels' similarities and full-text scores too) are fused with ``stage2_weights`` to reorder them.

(Over 400 lines on purpose: the stages are read top-down in one place, query → channels → candidates →
pair signals → fusion → result; what each channel or signal computes lives in its own module.)
"""

from __future__ import annotations

import itertools
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from multimodal.batching import Batcher
from multimodal.cover_features import StoreCoverFeatures
from multimodal.errors import BookNotFound, NoCover
from multimodal.evidence import (
    PhotoEvidence,
    cover_reading,
    photo_evidence,
    photo_weights,
    work_of,
)
from multimodal.fulltext import FullTextDocument, StoreFullText
from multimodal.fusion import fuse, reciprocal_rank_fusion, relevance, shortlist_for_stage2, stage2_priority
from multimodal.images import load_image
from multimodal.keypoints import Keypoints, photo_keypoints
from multimodal.lexicon import cover_title_match
from multimodal.models import Models
from multimodal.photo_query import read_photo
from multimodal.records import BookRecord, Hit, SearchFilters, SearchRequest, SearchResult
from multimodal.settings import Settings
from multimodal.signals import (
    PAIR_SCORERS,
    SIGNALS,
    EncodedQuery,
    Signal,
    cover_feature_signals,
    fulltext_signals,
    vector_signals,
)
from multimodal.store import BookStore, StoredBook
from multimodal.timing import Timer
from multimodal.verdict import verdict_for

MORE_LIKE = ("cover", "description")
FILTERED_FULLTEXT_FACTOR = 4
FULLTEXT_MIN_COVERAGE = 0.75  # a full-text hit counts when it has three quarters of the query's words (by rarity)
# ... or, for the words read off a photo, when this much of its title and author was read (cover_title_match):
# a scene's text holds the books around it too, so no book has most of it. Chosen on the tuning split (seed 2,
# romance scenes: the right book kept in 75 of 80 photos at 0.5, 41 by coverage alone); docs/evaluation.md.
OCR_FULLTEXT_MIN_READ = 0.5
# A photo's regions other than the one used (the whole photo or its outline) count this much less in the image
# channel: a window of a frame-filling cover (a quarter of it) must not pass for another book's cover. Chosen on the
# tuning split (seed 2) with benchmarks/scene_recall.py, frame-filling and scene photos; docs/evaluation.md.
OTHER_REGION_HANDICAP = 0.15


@dataclass
class Shortlist:
    """Stage 1's candidates: each channel's books, best first, with the channel's signal for them."""

    found: dict[str, dict[str, float]] = field(default_factory=dict)  # signal → book id → value, best first
    # A vector channel's books on each of its collections (texts, and passages): (signal, collection) → book → value;
    # empty where the search gives no book's value (a photo's image channel: a book's best over the photo's regions)
    parts: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)

    def ids(self) -> set[str]:
        return set().union(*self.found.values())


@dataclass
class Ranking:
    """The candidates of one search, their signals, and both stages' scores."""

    books: list[StoredBook]
    signals: list[dict[str, float]]
    stage1: list[float]
    order: list[int]  # candidate indices, best first
    stage1_rank: dict[int, int]
    rankings: dict[str, list[int]] = field(default_factory=dict)  # each channel's candidates, best first
    stage2: dict[int, float] = field(default_factory=dict)
    evidence: PhotoEvidence | None = None  # a photo query's evidence (multimodal.evidence)


class Searcher:
    def __init__(self, models: Models, store: BookStore, settings: Settings) -> None:
        self.models = models
        self.store = store
        self.settings = settings
        self.profile = models.profile
        self.verdict = verdict_for(self.profile.name)  # whether a photo identifies its first hit (fitted, or rules)
        self.fulltext = StoreFullText.for_store(store, settings)
        # The covers' local features: the cover_features channel votes with them, cover_keypoints verifies by them
        # (read from the store and featurised when first used: ``uses_cover_features``).
        self.cover_features = StoreCoverFeatures.for_store(store, settings)
        # Concurrent queries share forwards (see multimodal.batching); ingest calls the models directly.
        share = Batcher if settings.share_forwards else lambda run, name: run
        # Queries are embedded as queries where the model tells them from book texts (e5's "query: " prefix).
        text_encoder = models.text_encoder
        encode_queries = getattr(text_encoder, "encode_queries", text_encoder.encode_texts)
        self.encode_texts = share(encode_queries, "text encoder")
        self.encode_images = share(models.image_encoder.encode_prepared, "image encoder")
        scorer = models.cross_scorer
        self.score_pairs = share(scorer.score_pairs, "cross-encoder") if scorer is not None else None

    # -- stage 0: the query ------------------------------------------------------------------
    def encode(self, text: str, image: Image.Image | None, timer: Timer | None = None) -> EncodedQuery:
        query = EncodedQuery(text=text.strip(), score_pairs=self.score_pairs)
        if query.text:
            query.text_vector = self.encode_texts([query.text])[0]
        if image is not None:  # the cover found in the photo (multimodal.photo_query), else the whole photo
            photo = read_photo(image, self.models, self.encode_images, self.best_cover_matches)
            query.image_vector, query.image_phash = photo.image_vector, photo.image_phash
            query.cover_text, query.cover_region = photo.cover_text, photo.region
            query.region_confidence = photo.region_confidence
            query.image_regions = photo.other_region_vectors
            if timer is not None:  # the photo's own stages, inside "encode"
                for name, ms in photo.timings_ms.items():
                    timer.seconds[f"photo_{name}"] += ms / 1000
            if query.cover_text:
                query.cover_text_vector = self.encode_texts([query.cover_text])[0]
            if self.uses_cover_features:  # the whole photo: the match finds the cover in it
                with timer.stage("photo_keypoints") if timer is not None else nullcontext():
                    query.photo_keypoints = photo_keypoints(image)
                query.cover_features = self.cover_features.features
        return query

    @property
    def uses_cover_features(self) -> bool:
        """Whether the profile weighs a signal of the covers' local features (a photo's features are then computed)."""
        stage1 = any(signal.name in self.profile.stage1_weights for signal in cover_feature_signals())
        return stage1 or "cover_keypoints" in self.profile.stage2_weights

    def best_cover_matches(self, vectors: np.ndarray) -> list[float]:
        """For each image vector, the similarity of the catalog cover nearest to it (-1 for an empty store),
        in one search of the store."""
        return [found[0][1] if found else -1.0 for found in self.store.nearest_each("covers", list(vectors), 1)]

    # -- stage 1 -----------------------------------------------------------------------------
    def channels(self, query: EncodedQuery) -> list[tuple[Signal, np.ndarray]]:
        """Each registered vector channel this query has, with its query vector."""
        wanted = []
        for signal in vector_signals():
            channel = signal.channel
            vector = getattr(query, channel.query_vector)
            if vector is not None and (self.profile.shared_space or not channel.cross_modal):
                wanted.append((signal, vector))
        return wanted

    def fulltext_channels(self, query: EncodedQuery) -> list[tuple[Signal, str]]:
        """Each registered full-text channel this query has words for, with the words."""
        wanted = [(signal, getattr(query, signal.channel.query_words)) for signal in fulltext_signals()]
        return [(signal, words) for signal, words in wanted if words]

    def feature_channels(self, query: EncodedQuery) -> list[tuple[Signal, Keypoints]]:
        """Each registered cover-feature channel the profile weighs and this query has a photo's features for."""
        wanted = [(signal, getattr(query, signal.channel.query_features)) for signal in cover_feature_signals()]
        return [
            (signal, photo)
            for signal, photo in wanted
            if photo is not None and signal.name in self.profile.stage1_weights
        ]

    def shortlist(self, query: EncodedQuery, filters: SearchFilters, timer: Timer) -> Shortlist:
        """Every channel's best books (``settings.shortlist`` each), best first."""
        n = self.settings.shortlist
        shortlist = Shortlist()
        where = self.store.where(filters)
        with timer.stage("vector_search"):
            for signal, vector in self.channels(query):
                shortlist.found[signal.name] = self.nearest(signal, vector, n, where, shortlist, query.image_regions)
        with timer.stage("fulltext_search"):
            # The full-text index knows no filters: with filters, it is asked for more books, and those
            # the filters refuse are dropped when the candidates are read.
            wanted = n * FILTERED_FULLTEXT_FACTOR if filters else n
            for signal, words in self.fulltext_channels(query):
                shortlist.found[signal.name] = self.fulltext_scores(words, wanted)
        if features := self.feature_channels(query):
            with timer.stage("feature_search"):  # the filters too are applied when the candidates are read
                for signal, photo in features:
                    shortlist.found[signal.name] = self.feature_votes(photo, wanted)
        return shortlist

    def feature_votes(self, photo: Keypoints, n: int) -> dict[str, float]:
        """The cover-feature channel's best books with their votes relative to the best book's (in [0, 1])."""
        found = self.cover_features.vote(photo, n)
        return {book_id: votes / found[0][1] for book_id, votes in found} if found else {}

    def nearest(
        self,
        signal: Signal,
        vector: np.ndarray,
        n: int,
        where: dict | None,
        shortlist: Shortlist,
        image_regions: np.ndarray | None = None,
    ) -> dict[str, float]:
        """A vector channel's n best books, best first: each book at its best vector over the channel's
        collections (its text and, for a long description, its passages).

        A photo's image channel searches the covers with the photo's other candidate regions too
        (``image_regions``: the whole photo or the outline not used, other outlines, windows), and a book
        counts at its best similarity over them, another region's less ``OTHER_REGION_HANDICAP``: the
        photographed cover reaches the shortlist even when its outline was not found. That best is the
        channel's signal for every candidate (``channel_signals``)."""
        best: dict[str, float] = {}
        for collection in signal.channel.collections:
            regions = self.regions_searched(signal, collection, image_regions)
            found, *by_region = self.store.nearest_each(collection, [vector, *regions], n, where)
            # a region's list gives a book's similarity with that region only, not its best over all regions
            shortlist.parts[signal.name, collection] = {} if regions else dict(found)
            handicapped = ((book_id, value - OTHER_REGION_HANDICAP) for book_id, value in itertools.chain(*by_region))
            for book_id, similarity in itertools.chain(found, handicapped):
                best[book_id] = max(similarity, best.get(book_id, -1.0))
        return dict(sorted(best.items(), key=lambda item: -item[1])[:n])

    @staticmethod
    def regions_searched(signal: Signal, collection: str, image_regions: np.ndarray | None) -> list[np.ndarray]:
        """The photo's other candidate regions search the covers with the query image's channel, no other."""
        if image_regions is None or collection != "covers" or signal.channel.query_vector != "image_vector":
            return []
        return list(image_regions)

    def fulltext_scores(self, words: str, n: int) -> dict[str, float]:
        """The full-text channel's best books with BM25 relative to the best book (in [0, 1])."""
        found = self.fulltext.search(words, n)
        return {book_id: score / found[0][1] for book_id, score in found} if found else {}

    def weigh_fulltext_evidence(self, query: EncodedQuery, shortlist: Shortlist, books: dict[str, StoredBook]) -> None:
        """Keep a full-text channel's books only where they have most of the query's words (by rarity):
        BM25 always has a first book, even for words that are everywhere ("the nurse of the crimean war"
        against English novels when the book is Italian). A book's signal is its relative BM25 times
        that evidence (``fulltext_evidence``)."""
        for signal, words in self.fulltext_channels(query):
            found = [book_id for book_id in shortlist.found.get(signal.name, {}) if book_id in books]
            evidence = self.fulltext_evidence(signal, words, [books[book_id].record for book_id in found])
            relative = shortlist.found[signal.name]
            shortlist.found[signal.name] = {
                book_id: relative[book_id] * evidence[book_id] for book_id in found if book_id in evidence
            }

    def fulltext_evidence(self, signal: Signal, words: str, records: list[BookRecord]) -> dict[str, float]:
        """The books whose full-text hit counts, with how completely: the share of the query's words they have
        (by rarity), at least ``FULLTEXT_MIN_COVERAGE``; for words read off a photo, also a book whose own title
        and author were mostly read (``OCR_FULLTEXT_MIN_READ``), whatever else the photo shows, and the channel's
        first book (BM25's best for a photo's words reaches stage 2, which weighs it by how much of it was read)."""
        coverage = self.fulltext.coverage(words, [FullTextDocument.of(record) for record in records])
        kept = {
            record.book_id: share
            for record, share in zip(records, coverage, strict=True)
            if share >= FULLTEXT_MIN_COVERAGE
        }
        if signal.channel.query_words == "cover_text":
            for rank, (record, share) in enumerate(zip(records, coverage, strict=True)):
                read = cover_title_match(words, record)
                if read >= OCR_FULLTEXT_MIN_READ or rank == 0:
                    kept[record.book_id] = max(share, read)
        return kept

    def candidates(
        self, query: EncodedQuery, shortlist: Shortlist, filters: SearchFilters, exclude: str
    ) -> list[StoredBook]:
        """The shortlisted books, read with the vectors that their signals still need."""
        ids = shortlist.ids() - {exclude}
        unknown: dict[str, set[str]] = {}
        for signal, _ in self.channels(query):
            for collection in signal.channel.collections:
                known = shortlist.parts[signal.name, collection].keys()
                unknown.setdefault(collection, set()).update(ids - known)
        books = self.store.read_candidates(sorted(ids), unknown, self.store.where(filters))
        return [book for book in books.values() if filters.admits(book.record)]

    def channel_signals(self, query: EncodedQuery, book: StoredBook, shortlist: Shortlist) -> dict[str, float]:
        """Each channel's signal for a book: as the channel returned it, else (vector channels) computed
        from the book's vectors: the best over the channel's collections (its text, its passages) and, for a
        photo's image channel, over the photo's candidate regions. A full-text channel that did not return the
        book gives it no signal."""
        book_id = book.record.book_id
        signals = {name: found[book_id] for name, found in shortlist.found.items() if book_id in found}
        for signal, vector in self.channels(query):
            values = []
            for collection in signal.channel.collections:
                found = shortlist.parts[signal.name, collection]
                if book_id in found:
                    values.append(found[book_id])
                    continue
                values.append(book.similarity(collection, vector))
                regions = self.regions_searched(signal, collection, query.image_regions)
                if regions and (other := book.similarity(collection, np.vstack(regions).T)) is not None:
                    values.append(other - OTHER_REGION_HANDICAP)  # one column a region: the best of them
            values = [value for value in values if value is not None]  # None: a blank cover, no passages
            if values:
                signals[signal.name] = max(values)
        return signals

    # -- stage 2 -----------------------------------------------------------------------------
    def pair_signals(
        self,
        query: EncodedQuery,
        books: list[BookRecord],
        priority: list[int] | None = None,
        timer: Timer | None = None,
    ) -> list[dict[str, float]]:
        """Every registered pair signal the profile weighs in stage 2, for each book. A costly signal
        (``Signal.max_books``) is scored on the first books of ``priority`` (indices into ``books``; by default
        their order) only, and its time is reported under its name (inside "cross_score")."""
        signals: list[dict[str, float]] = [{} for _ in books]
        for name, scorer in PAIR_SCORERS.items():
            if name not in self.profile.stage2_weights:
                continue
            chosen = list(range(len(books))) if priority is None else priority
            costly = SIGNALS[name].max_books is not None
            chosen = chosen[: SIGNALS[name].max_books]  # [:None] keeps them all
            with timer.stage(name) if timer is not None and costly else nullcontext():
                values = scorer(query, [books[j] for j in chosen])
            if values is None:  # the signal does not apply to this query
                continue
            for j, value in zip(chosen, values, strict=True):
                if value is not None:
                    signals[j][name] = float(value)
        return signals

    # -- the whole search --------------------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResult:
        """Search by words, by a cover image (path, bytes or PIL image), or both."""
        timer = Timer()
        with timer.stage("encode"):
            picture = load_image(request.image) if request.image is not None else None
            query = self.encode(request.text, picture, timer)
        return self.run(query, request, timer)

    def more_like(self, book_id: str, by: str, request: SearchRequest) -> SearchResult:
        """Books like a catalog book, by its cover (``by="cover"``) or its description (``"description"``).

        The book's stored vectors are the query, so nothing is encoded; the book itself is left out.
        Raises BookNotFound for an unknown id and NoCover when the book has no cover to compare.
        """
        if by not in MORE_LIKE:
            raise ValueError(f"more_like: by must be 'cover' or 'description', not {by!r}")
        timer = Timer()
        found = self.store.fetch([book_id]).get(book_id)
        if found is None:
            raise BookNotFound(book_id)
        if by == "cover":
            if found.cover_vector is None:
                raise NoCover(book_id)
            query = EncodedQuery(text="", image_vector=found.cover_vector, image_phash=found.record.phash)
        else:
            text, vector = found.record.document, found.text_vector
            query = EncodedQuery(text=text, text_vector=vector, score_pairs=self.score_pairs)
        return self.run(query, request, timer, exclude=book_id)

    def run(self, query: EncodedQuery, request: SearchRequest, timer: Timer, exclude: str = "") -> SearchResult:
        """Stages 1 and 2 for an encoded query."""
        k = request.k or self.settings.results
        min_score = self.settings.min_score if request.min_score is None else request.min_score
        if not query.text and query.image_vector is None:
            return SearchResult([], timer.ms, request.cross_score, self.profile.name, 0)
        shortlist = self.shortlist(query, request.filters, timer)
        with timer.stage("merge"):
            ranking = self.rank_stage1(query, shortlist, request.filters, exclude)
        if request.cross_score and ranking.order:
            with timer.stage("cross_score"):
                self.rank_stage2(query, ranking, timer)
        relevances = {i: self.relevance(ranking, i) for i in ranking.order}
        kept = [i for i in ranking.order if relevances[i] >= min_score][:k]
        hits = [self.hit(rank, ranking, i, relevances[i]) for rank, i in enumerate(kept, start=1)]
        identified = None
        if ranking.evidence is not None and ranking.order:
            first = ranking.order[0]
            record = ranking.books[first].record
            reading = cover_reading(query.cover_text, record.title, record.author)
            identified = self.verdict.identifies(record.book_id, ranking.signals[first], ranking.evidence, reading)
        return SearchResult(
            hits, timer.ms, bool(ranking.stage2), self.profile.name, len(ranking.books), query.cover_text,
            cover_region=query.cover_region, cover_confidence=query.region_confidence, cover_identified=identified,
        )  # fmt: skip

    def rank_stage1(self, query: EncodedQuery, shortlist: Shortlist, filters: SearchFilters, exclude: str) -> Ranking:
        """The candidates ordered by reciprocal-rank fusion of the channels (each channel's own order)."""
        books = self.candidates(query, shortlist, filters, exclude)
        index = {book.record.book_id: i for i, book in enumerate(books)}
        self.weigh_fulltext_evidence(query, shortlist, {book.record.book_id: book for book in books})
        rankings = {
            name: [index[book_id] for book_id in found if book_id in index] for name, found in shortlist.found.items()
        }
        signals = [self.channel_signals(query, book, shortlist) for book in books]
        stage1 = reciprocal_rank_fusion(rankings, self.profile.stage1_weights, len(books))
        order = sorted(range(len(books)), key=lambda i: -stage1[i])
        return Ranking(books, signals, stage1, order, {i: rank for rank, i in enumerate(order, start=1)}, rankings)

    def rank_stage2(self, query: EncodedQuery, ranking: Ranking, timer: Timer | None = None) -> None:
        """Score every channel's first and the best of the rest with all signals, and reorder them."""
        top = shortlist_for_stage2(ranking.order, ranking.rankings, self.settings.cross_score_top)
        position = {i: j for j, i in enumerate(top)}
        priority = [position[i] for i in stage2_priority(top, ranking.rankings)]
        records = [ranking.books[i].record for i in top]
        for i, extra in zip(top, self.pair_signals(query, records, priority, timer), strict=True):
            ranking.signals[i].update(extra)
        # A full-text channel that did not keep a book found too few of the query's words in it (the cover-feature
        # channel, too few of the photo's features): that is a score of 0, not a missing one (else a decisive match
        # that only one book has stands out from nothing).
        for name in ranking.rankings.keys() & {signal.name for signal in fulltext_signals() + cover_feature_signals()}:
            for i in top:
                ranking.signals[i].setdefault(name, 0.0)
        weights = self.profile.stage2_weights
        if query.cover_region:  # a photo: each signal as trusted as it is reliable for this photo
            ranking.evidence = photo_evidence(
                {record.book_id: ranking.signals[i] for record, i in zip(records, top, strict=True)},
                query.region_confidence,
                works={record.book_id: work_of(record.title, record.author) for record in records},
            )
            weights = photo_weights(weights, ranking.evidence)
        fused = fuse([ranking.signals[i] for i in top], weights)
        ranking.stage2 = dict(zip(top, fused, strict=True))
        scored = set(top)
        order = sorted(top, key=lambda i: -ranking.stage2[i])
        if ranking.evidence is not None and ranking.evidence.verified:
            order = self.verified_first(ranking, order)
        ranking.order = order + [i for i in ranking.order if i not in scored]

    @staticmethod
    def verified_first(ranking: Ranking, order: list[int]) -> list[int]:
        """A photo's stage-2 order with the cover verified as the photographed one (``PhotoEvidence.verified_book``)
        first, and its twins after it: the photo is of that book, whatever the words read around it say. Its score is
        raised to the best one's (a tie it wins by the verification)."""
        assert ranking.evidence is not None
        verified = [i for i in order if ranking.evidence.verified_as(ranking.books[i].record.book_id)]
        if verified and verified[0] != order[0]:
            ranking.stage2[verified[0]] = ranking.stage2[order[0]]
        return verified + [i for i in order if i not in verified]

    def relevance(self, ranking: Ranking, i: int) -> float:
        """Absolute match strength (what a minimum score cuts on; ``fusion.relevance``)."""
        weights = self.profile.stage2_weights if i in ranking.stage2 else self.profile.stage1_weights
        return relevance(ranking.signals[i], weights)

    def hit(self, rank: int, ranking: Ranking, i: int, relevance: float) -> Hit:
        record = ranking.books[i].record
        stage2 = ranking.stage2.get(i)
        return Hit(
            rank=rank,
            **{name: getattr(record, name) for name in Hit.BOOK_FIELDS},
            score=round(float(ranking.stage1[i] if stage2 is None else stage2), 4),
            relevance=round(float(relevance), 4),
            stage1_score=round(float(ranking.stage1[i]), 4),
            stage1_rank=ranking.stage1_rank[i],
            stage2_score=None if stage2 is None else round(float(stage2), 4),
            signals={name: round(float(value), 4) for name, value in ranking.signals[i].items()},
        )
