"""The data that crosses Folio's boundaries: a book, a search request, its result.

Nothing here knows about a model or a store: ingest builds ``BookRecord``s, the store keeps them,
search answers a ``SearchRequest`` with a ``SearchResult`` of ``Hit``s, and the page and the REST API
render those.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from multimodal.images import ImageSource

BLANK_COVER = "blank-cover"  # the flag ingest sets on a book whose cover is a placeholder (no cover vector)
UNREADABLE_COVER = "unreadable-cover"  # the cover file could not be decoded at all (no cover vector)
TRUNCATED_COVER = "truncated-cover"  # the cover file ended early and was decoded as far as it goes (has a vector)
NO_COVER_FLAGS = (BLANK_COVER, UNREADABLE_COVER)


def fold(text: str) -> str:
    """How filters compare words: case-insensitive ("Romance" matches "romance"), spaces trimmed."""
    return text.strip().casefold()


@dataclass
class BookRecord:
    """One book as it is stored: what crosses from ingest to the store."""

    book_id: str
    title: str
    author: str = ""
    description: str = ""
    year: int | None = None
    genre: str = ""
    isbn: str = ""
    cover: str = ""
    content_hash: str = ""
    phash: str = ""
    cover_text: str = ""
    flags: list[str] = field(default_factory=list)
    subjects: str = ""  # the catalog's subject headings or keywords, "; "-separated (searched as full text)
    publisher: str = ""  # (searched as full text)

    @property
    def document(self) -> str:
        """The book text that is embedded and cross-scored."""
        head = self.title + (f" by {self.author}" if self.author else "")
        parts = [head, self.genre.capitalize() if self.genre else "", self.description, self.cover_text]
        return ". ".join(part.strip().rstrip(".") for part in parts if part.strip()) + "."

    @property
    def has_cover(self) -> bool:
        """True when the book has a real cover image (not none, not a blank placeholder)."""
        return has_cover(self.cover, self.flags)

    def metadata(self) -> dict[str, Any]:
        values = {
            "title": self.title,
            "author": self.author,
            "year": self.year,
            "genre": self.genre,
            "isbn": self.isbn,
            "cover": self.cover,
            "content_hash": self.content_hash,
            "phash": self.phash,
            "cover_text": self.cover_text,
            "flags": ",".join(self.flags),
            "description": self.description,
            "subjects": self.subjects,
            "publisher": self.publisher,
            **self.folded_metadata(),
        }
        return {key: value for key, value in values.items() if value not in (None, "")}

    def folded_metadata(self) -> dict[str, str]:
        """Case-folded copies of the fields filters match case-insensitively (see ``SearchFilters``)."""
        return {f"{name}_folded": fold(getattr(self, name)) for name in SearchFilters.FOLDED}

    def filter_metadata(self) -> dict[str, Any]:
        """The fields search filters use, kept on the cover records too."""
        keys = ("title", "author", "year", "genre", *(f"{name}_folded" for name in SearchFilters.FOLDED))
        return {key: value for key, value in self.metadata().items() if key in keys}

    @classmethod
    def from_metadata(cls, book_id: str, metadata: dict[str, Any]) -> BookRecord:
        return cls(
            book_id=book_id,
            title=str(metadata.get("title", "")),
            author=str(metadata.get("author", "")),
            description=str(metadata.get("description", "")),
            year=metadata.get("year"),
            genre=str(metadata.get("genre", "")),
            isbn=str(metadata.get("isbn", "")),
            cover=str(metadata.get("cover", "")),
            content_hash=str(metadata.get("content_hash", "")),
            phash=str(metadata.get("phash", "")),
            cover_text=str(metadata.get("cover_text", "")),
            flags=[flag for flag in str(metadata.get("flags", "")).split(",") if flag],
            subjects=str(metadata.get("subjects", "")),
            publisher=str(metadata.get("publisher", "")),
        )


def has_cover(cover: str, flags: list[str]) -> bool:
    """The one has-a-cover rule, for records and hits alike."""
    return bool(cover) and not any(flag in flags for flag in NO_COVER_FLAGS)


@dataclass
class SearchFilters:
    """Which books a search may return. Store-neutral: the store turns it into its own query language.

    ``genre`` and ``author`` match case-insensitively and whole ("Romance" finds "romance", "austen"
    does not find "Jane Austen"): each record carries case-folded copies of them (``*_folded``).
    """

    FOLDED = ("genre", "author")  # the fields matched case-insensitively

    genre: str | None = None
    author: str | None = None
    year_min: int | None = None
    year_max: int | None = None

    def __bool__(self) -> bool:
        return bool(self.genre or self.author or self.year_min is not None or self.year_max is not None)

    def admits(self, record: BookRecord) -> bool:
        return (
            (not self.genre or fold(record.genre) == fold(self.genre))
            and (not self.author or fold(record.author) == fold(self.author))
            and (self.year_min is None or (record.year is not None and record.year >= self.year_min))
            and (self.year_max is None or (record.year is not None and record.year <= self.year_max))
        )


@dataclass
class SearchRequest:
    """One search: words, a cover image, or both, and how to answer it. ``None`` means the setting's default."""

    text: str = ""
    image: ImageSource | None = None
    k: int | None = None
    cross_score: bool = True
    min_score: float | None = None  # hits below this relevance are left out
    filters: SearchFilters = field(default_factory=SearchFilters)

    @property
    def is_empty(self) -> bool:
        return not self.text.strip() and self.image is None


@dataclass
class Hit:
    """One book in a result list, with the scores of both stages and the signals behind them."""

    BOOK_FIELDS = ("book_id", "title", "author", "year", "genre", "isbn", "cover", "description", "flags")

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
    confidence: float = 0.0  # share of such hits that were the right book, in [0, 1] (multimodal/confidence.py)
    tier: str = ""  # "found", "likely" or "possible" (multimodal/confidence.py)

    @property
    def phrase(self) -> float:
        """How much of the typed words this book holds verbatim as a phrase (``phrase_match``; 0 when absent)."""
        return self.signals.get("phrase_match", 0.0)

    @property
    def has_cover(self) -> bool:
        return has_cover(self.cover, self.flags)

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
    verdict: str = ""  # "found", "matches", "not_in_catalog" or "empty" (multimodal/confidence.py)
    # Where the query image's vectors and text came from: "cover" (the cover found in the photo and
    # rectified), "whole" (no cover outline found: the whole photo), "" (no image). multimodal.photo_query.
    cover_region: str = ""
    cover_confidence: float = 0.0  # how cleanly the cover was found in the photo, in [0, 1]
    # Photo queries: whether the photo's own evidence identifies the first hit — its cover verified, its title
    # read on the cover, its cover standing out from all others (the profile's verdict, multimodal.verdict). False:
    # probably a book the catalog does not hold. None for other queries.
    cover_identified: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hits": [hit.to_dict() for hit in self.hits]}


@dataclass(frozen=True)
class CatalogFacets:
    """What the catalog holds, for a page's filters and examples."""

    books: int
    genres: list[str]
    year_min: int | None
    year_max: int | None
