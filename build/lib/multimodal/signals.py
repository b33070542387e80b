"""The signals search weighs: one registry, read by search, by profile loading and by the page.

A signal is one number comparing the query with a candidate book, about in [0, 1] (``cover_keypoints`` goes
down to -1: evidence against a book whose cover lies beside the one photographed). Each declares

- ``name``: the key in a profile's weights and in ``Hit.signals``;
- ``stage``: 1 for a channel — a vector search or a full-text search (stage 1 shortlists with it,
  fusing the channels by rank; stage 2 still weighs it) —, 2 for a pair signal scored on the
  shortlist only;
- ``group`` and ``compares``: what it compares, in plain words (the page's "why this result");
- ``threshold``: at or above it the signal counts as a match (signals live on different scales).

Adding a stage-2 signal is one registration plus a weight in a profile: a *pair scorer* is a function
of (query, candidate books) → one float per book, or ``None`` when the signal does not apply to this
query (no image, no words). ``@pair_signal`` registers the simpler one-book form::

    @pair_signal("year_match", group="description", compares="the year you typed vs the book's year")
    def year_match(query: EncodedQuery, book: BookRecord) -> float | None:
        ...

and ``"year_match": 0.5`` in a profile's ``stage2_weights`` makes it count. Profiles are checked
against this registry when they load (``validate_weights``): a weight for an unknown signal, a
stage-2 signal in stage-1 weights, or a registered signal that no profile weighs is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np

from multimodal.errors import SignalError
from multimodal.fingerprint import phash_similarity
from multimodal.keypoints import (
    CoverMatch,
    Keypoints,
    cover_file_features,
    cover_thumbnail,
    match,
    photographed_covers,
)
from multimodal.lexicon import cover_title_match, phrase_match, title_match
from multimodal.records import BookRecord

DEFAULT_MIN_SPREAD = 0.02  # signals are similarities in about [0, 1]

Collection = Literal["texts", "covers", "passages"]
Group = Literal["title/author", "cover text", "visual", "description"]
GROUP_ORDER: tuple[Group, ...] = ("title/author", "cover text", "visual", "description")


@dataclass
class EncodedQuery:
    """What a query brings to the signals: its words and picture, encoded, and the query-time scorers."""

    text: str
    text_vector: np.ndarray | None = None
    image_vector: np.ndarray | None = None
    # A photo's other candidate regions' vectors, one a row (multimodal.photo_query): the covers are searched
    # with each too and a book ranks at its best (the image channel's wider net); its signal stays image_vector's.
    image_regions: np.ndarray | None = None
    image_phash: str = ""
    cover_text: str = ""  # what OCR read on the query image
    cover_text_vector: np.ndarray | None = None
    cover_region: str = ""  # "cover" or "whole": where the image's vectors and text came from (photo_query)
    region_confidence: float = 0.0
    photo_keypoints: Keypoints | None = None  # the photo's local features: they vote for covers, covers are matched
    # A catalog cover's local features (multimodal.cover_features), or None when it has no readable cover.
    # (Default: read from the cover's file; search gives the store's index, multimodal.cover_features.)
    cover_features: Callable[[BookRecord], Keypoints | None] = field(default=cover_file_features, repr=False)
    # The cross-encoder (or None): scores (query text, book text) pairs, possibly shared with other queries.
    score_pairs: Callable[[list[tuple[str, str]]], Sequence[float]] | None = None


@dataclass(frozen=True)
class VectorChannel:
    """A stage-1 signal's search: which query vector is compared with which stored vectors."""

    query_vector: str  # an EncodedQuery field
    collection: Collection
    cross_modal: bool = False  # text vs picture: only when the profile embeds both in one space
    # Also the passages of long descriptions (multimodal.passages): a book counts at the best of its
    # text vector and its passages' vectors, so the end of a long description is searched too.
    with_passages: bool = False

    @property
    def collections(self) -> tuple[Collection, ...]:
        return (self.collection, "passages") if self.with_passages else (self.collection,)


@dataclass(frozen=True)
class FullTextChannel:
    """A stage-1 signal's search in the full-text index (``multimodal.fulltext``) with some words of the query."""

    query_words: str  # an EncodedQuery field: "text" or "cover_text"


@dataclass(frozen=True)
class CoverFeatureChannel:
    """A stage-1 signal's search in the covers' local features (``multimodal.cover_features``) with a photo's."""

    query_features: str = "photo_keypoints"  # an EncodedQuery field


Channel = VectorChannel | FullTextChannel | CoverFeatureChannel


@dataclass(frozen=True)
class Signal:
    name: str
    stage: Literal[1, 2]
    group: Group
    compares: str
    threshold: float
    channel: Channel | None = None  # stage 1 only
    # False: below its threshold the signal says nothing against a book, so it does not count toward the
    # book's relevance (most queries quote no phrase of the book they want); it still orders candidates.
    counts_unmatched: bool = True
    # The smallest spread of values over the candidates that stage 2 standardises by: differences below
    # it are noise, not evidence. A weak partial agreement ("the" and "of" in a title) among candidates
    # that mostly score 0 would otherwise look as decisive as a full match.
    min_spread: float = DEFAULT_MIN_SPREAD
    # A costly pair signal is scored on this many of stage 2's candidates only: every channel's first book, then
    # the best of stage 1 (``fusion.stage2_priority``); the others get no value for it. None: on every candidate.
    max_books: int | None = None

    def matched(self, value: float) -> bool:
        return value >= self.threshold

    def counts_in_relevance(self, value: float) -> bool:
        """Whether this value says how well a book matches in absolute terms (``fusion.relevance``): never for
        a full-text score or a cover-feature vote (relative to the query's best book: they order candidates only),
        and for a signal that only speaks when it matches (``counts_unmatched`` False) only then."""
        if isinstance(self.channel, FullTextChannel | CoverFeatureChannel):
            return False
        return self.counts_unmatched or self.matched(value)


PairScorer = Callable[[EncodedQuery, Sequence[BookRecord]], Sequence[float | None] | None]

SIGNALS: dict[str, Signal] = {}
PAIR_SCORERS: dict[str, PairScorer] = {}


def register(signal: Signal, scorer: PairScorer | None = None) -> Signal:
    """Add a signal: stage 1 with its vector channel, stage 2 with its pair scorer."""
    if signal.name in SIGNALS:
        raise SignalError(f"signal {signal.name!r} is already registered")
    if (signal.stage == 1) != (signal.channel is not None) or (signal.stage == 2) != (scorer is not None):
        raise SignalError(f"signal {signal.name!r}: stage 1 needs a vector channel, stage 2 a pair scorer")
    SIGNALS[signal.name] = signal
    if scorer is not None:
        PAIR_SCORERS[signal.name] = scorer
    return signal


def unregister(name: str) -> None:
    SIGNALS.pop(name, None)
    PAIR_SCORERS.pop(name, None)


def pair_signal(
    name: str,
    *,
    group: Group,
    compares: str,
    threshold: float = 0.5,
    counts_unmatched: bool = True,
    min_spread: float = DEFAULT_MIN_SPREAD,
    max_books: int | None = None,
) -> Callable[[Callable[[EncodedQuery, BookRecord], float | None]], Callable[[EncodedQuery, BookRecord], float | None]]:
    """Register a stage-2 signal from a function of (query, one book) → float, or None when it does not apply."""

    def decorate(
        score: Callable[[EncodedQuery, BookRecord], float | None],
    ) -> Callable[[EncodedQuery, BookRecord], float | None]:
        def scorer(query: EncodedQuery, books: Sequence[BookRecord]) -> list[float | None]:
            return [score(query, book) for book in books]

        signal = Signal(
            name, 2, group, compares, threshold,
            counts_unmatched=counts_unmatched, min_spread=min_spread, max_books=max_books,
        )  # fmt: skip
        register(signal, scorer)
        return score

    return decorate


def vector_signals() -> list[Signal]:
    return [signal for signal in SIGNALS.values() if isinstance(signal.channel, VectorChannel)]


def fulltext_signals() -> list[Signal]:
    return [signal for signal in SIGNALS.values() if isinstance(signal.channel, FullTextChannel)]


def cover_feature_signals() -> list[Signal]:
    return [signal for signal in SIGNALS.values() if isinstance(signal.channel, CoverFeatureChannel)]


def label(name: str) -> Signal | None:
    """The registered signal of this name (what the page explains), or None for an unknown one."""
    return SIGNALS.get(name)


def matched_groups(signals: dict[str, float]) -> list[Group]:
    """The kinds of evidence that matched, e.g. ["cover text", "visual"], in a fixed order."""
    found = {SIGNALS[name].group for name, value in signals.items() if name in SIGNALS and SIGNALS[name].matched(value)}
    return [group for group in GROUP_ORDER if group in found]


# -- checking weights --------------------------------------------------------------------------
def validate_weights(owner: str, stage1: dict[str, float], stage2: dict[str, float]) -> None:
    """Every weighted signal is registered; stage-1 weights name only stage-1 signals; no weight is negative."""
    for stage, weights in ((1, stage1), (2, stage2)):
        for name, weight in weights.items():
            signal = SIGNALS.get(name)
            if signal is None:
                raise SignalError(
                    f"{owner}: stage{stage}_weights names an unknown signal {name!r}; "
                    f"registered signals: {', '.join(sorted(SIGNALS))}"
                )
            if stage == 1 and signal.stage == 2:
                raise SignalError(f"{owner}: {name!r} is a stage-2 signal (scored on the shortlist): weigh it there")
            if weight < 0:
                raise SignalError(f"{owner}: the weight of {name!r} is negative ({weight})")


def check_all_weighted(weighted: Iterable[str], where: str) -> None:
    """A registered signal that no profile weighs is computed for nothing: say so."""
    unweighted = sorted(set(SIGNALS) - set(weighted))
    if unweighted:
        raise SignalError(
            f"signal(s) {', '.join(unweighted)} registered but weighted by no profile ({where}): "
            "give each a weight in a profile, or unregister it"
        )


# -- the signals Folio ships -------------------------------------------------------------------
TITLE_MATCH_MIN_SPREAD = 0.2  # chosen on the tuning split (seed 2) and tests/test_e5.py's questions: docs/evaluation.md
# Stage 1: (name, group, what it compares, match threshold, query vector, stored vectors, cross-modal,
# with the passages of long descriptions)
VECTOR_SIGNALS = (
    ("text_vs_text", "description",
     "your words vs the book's text, the passages of a long description too (embeddings)", 0.4, "text_vector",
     "texts", False, True),
    ("text_vs_cover", "visual", "your words vs the cover picture", 0.28, "text_vector", "covers", True, False),
    ("image_vs_cover", "visual", "your picture vs the book's cover (embeddings)", 0.7, "image_vector", "covers", False,
     False),
    ("image_vs_text", "visual", "your picture vs the book's text", 0.28, "image_vector", "texts", True, False),
    ("ocr_vs_text", "cover text", "the text read on your cover vs the book's text", 0.5, "cover_text_vector", "texts",
     False, False),
)  # fmt: skip
for name, group, compares, threshold, query_vector, collection, cross_modal, with_passages in VECTOR_SIGNALS:
    channel = VectorChannel(query_vector, collection, cross_modal, with_passages)
    register(Signal(name, 1, group, compares, threshold, channel))

# Stage 1, full text (multimodal.fulltext): (name, group, what it compares, match threshold, query words)
FULLTEXT_SIGNALS = (
    ("fulltext", "title/author",
     "your words vs every word of the book: title, author, description, subjects (full text, typos forgiven)", 0.8,
     "text"),
    ("ocr_fulltext", "cover text", "the text read on your cover vs every word of the book (full text)", 0.8,
     "cover_text"),
)  # fmt: skip
for name, group, compares, threshold, query_words in FULLTEXT_SIGNALS:
    register(Signal(name, 1, group, compares, threshold, FullTextChannel(query_words)))

# Stage 1, the covers' local features (multimodal.cover_features): a book's votes relative to the best book's.
register(
    Signal(
        "cover_features", 1, "visual", "points of your photo found on the book's cover, searched over every cover",
        0.8, CoverFeatureChannel(),
    )
)  # fmt: skip


def _cross_encoder(query: EncodedQuery, books: Sequence[BookRecord]) -> Sequence[float] | None:
    if not query.text or query.score_pairs is None:
        return None
    return [float(score) for score in query.score_pairs([(query.text, book.document) for book in books])]


register(
    Signal("cross_encoder", 2, "description", "a cross-encoder reading your words with the book's text", 0.5),
    _cross_encoder,
)


@pair_signal(
    "title_match",
    group="title/author",
    compares="your words vs the title and author, word by word",
    min_spread=TITLE_MATCH_MIN_SPREAD,
)
def _title_match(query: EncodedQuery, book: BookRecord) -> float | None:
    return title_match(query.text, book) if query.text else None


@pair_signal(
    "phrase_match",
    group="description",
    compares="a run of your words found word for word in the book's text",
    counts_unmatched=False,
)
def _phrase_match(query: EncodedQuery, book: BookRecord) -> float | None:
    return phrase_match(query.text, book) if query.text else None


@pair_signal("ocr_title_match", group="cover text", compares="the text read on your cover vs the title and author")
def _ocr_title_match(query: EncodedQuery, book: BookRecord) -> float | None:
    return cover_title_match(query.cover_text, book) if query.cover_text else None


@pair_signal("perceptual", group="visual", compares="perceptual fingerprints of the two covers", threshold=0.75)
def _perceptual(query: EncodedQuery, book: BookRecord) -> float | None:
    if not query.image_phash:
        return None
    return phash_similarity(query.image_phash, book.phash) if book.phash else 0.0


KEYPOINTS_MIN_SPREAD = 0.1  # a few inliers more or less than another wrong cover is chance, not evidence
# About 2-4 ms a candidate (more when its cover is read first): the candidates that matter, not all 50 (chosen on
# the tuning split, seed 2: docs/evaluation.md) ...
KEYPOINTS_MAX_BOOKS = 24
# ... in stage 2's order of priority, and none after a cover found beyond doubt at the photo's centre (at least 55
# inliers): one cover is photographed, the candidates after it are not (their signal is 0, not found: a missing
# value would leave the found one alone, standing out from nothing).
KEYPOINTS_SURE = 0.9


def _cover_keypoints(query: EncodedQuery, books: Sequence[BookRecord]) -> list[float | None] | None:
    """How surely each book's cover is the one photographed, in [-1, 1] (``keypoints.CoverMatch.photographed``:
    negative for a cover found beside it, or lying under another found in the photo: ``photographed_covers``);
    None for a book whose cover file cannot be read (a URL, a missing or broken file): no signal, never an error."""
    if query.photo_keypoints is None:
        return None
    matches: list[CoverMatch | None] = []
    for book in books:
        cover = query.cover_features(book)
        matches.append(None if cover is None else match(query.photo_keypoints, cover, partial(cover_thumbnail, book)))
        if matches[-1] is not None and matches[-1].photographed() >= KEYPOINTS_SURE:
            break
    values = photographed_covers(query.photo_keypoints, matches)  # a cover lying under another: negative
    return values + [0.0] * (len(books) - len(values))


register(
    Signal(
        "cover_keypoints", 2, "visual",
        "your photo vs the book's cover, feature by feature, the cover found whole at the photo's centre", 0.5,
        counts_unmatched=False,  # a cover not found in the photo says nothing of the book (another edition's cover)
        min_spread=KEYPOINTS_MIN_SPREAD, max_books=KEYPOINTS_MAX_BOOKS,
    ),
    _cover_keypoints,
)  # fmt: skip
