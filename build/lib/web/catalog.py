"""What the page and the API know about the catalog: its books, genres, authors and years, kept fresh.

``catalog_index(folio)`` is one ``CatalogIndex`` per Folio, shared by the page and the REST API. It
reads every record once and again whenever the store's book count changes (an ingest), so the
Catalog tab, the filters' choices and the case-insensitive genre/author matching follow the store.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rapidfuzz import process

from multimodal import BookRecord
from multimodal.folio import Folio
from web.render import md_escape

ANY_GENRE = "Any genre"  # the genre choice that filters nothing (search and the Catalog tab)
ROOT = Path(__file__).resolve().parent.parent
SAMPLE_COVERS = ROOT / "assets" / "sample" / "covers"


@dataclass
class CatalogFacts:
    books: int = 0
    genres: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    example_queries: list[str] = field(default_factory=list)
    example_covers: list[str] = field(default_factory=list)
    example_cover_alts: list[str] = field(default_factory=list)  # alt text for each example cover


class CatalogIndex:
    """Every record of the store, read again when the book count changes."""

    def __init__(self, folio: Folio) -> None:
        self.folio = folio
        self.records: list[BookRecord] = []
        self.by_genre: Counter[str] = Counter()  # derived from records at each read, not per query
        self.author_names: list[str] = []
        self.count = -1
        self.lock = threading.Lock()

    def fresh(self) -> CatalogIndex:
        with self.lock:
            count = self.folio.count()
            if count != self.count:
                self.records = sorted(self.folio.records(), key=lambda record: record.book_id)
                self.by_genre = Counter(record.genre for record in self.records if record.genre)
                self.author_names = sorted({record.author for record in self.records if record.author})
                self.count = count
        return self

    def genre_counts(self) -> Counter[str]:
        return Counter(self.fresh().by_genre)

    def genres(self) -> list[str]:
        return sorted(self.genre_counts())

    def authors(self) -> list[str]:
        return self.fresh().author_names

    def facts(self) -> CatalogFacts:
        fresh = self.fresh()
        records = fresh.records
        years = [record.year for record in records if record.year is not None]
        covers = example_covers(records)
        by_cover = {str(Path(record.cover)): record for record in records if record.cover}
        return CatalogFacts(
            books=len(records),
            genres=sorted(fresh.by_genre),
            year_min=min(years, default=None),
            year_max=max(years, default=None),
            example_queries=example_queries(records),
            example_covers=covers,
            example_cover_alts=[f"Example: the cover of {by_cover[path].title}" for path in covers],
        )


_INDEXES: weakref.WeakKeyDictionary[Folio, CatalogIndex] = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()


def catalog_index(folio: Folio) -> CatalogIndex:
    with _INDEXES_LOCK:
        if folio not in _INDEXES:
            _INDEXES[folio] = CatalogIndex(folio)
        return _INDEXES[folio]


def catalog_facts(folio: Folio) -> CatalogFacts:
    return catalog_index(folio).facts()


def canonical(value: str, choices: list[str]) -> str | None:
    """``value`` as the catalog spells it (case and surrounding spaces ignored), or None."""
    wanted = value.strip().casefold()
    return next((choice for choice in choices if choice.casefold() == wanted), None)


def closest(value: str, choices: list[str], limit: int = 5) -> list[str]:
    """The catalog's values nearest to a misspelt one (rapidfuzz), for an error message."""
    return [choice for choice, _, _ in process.extract(value, choices, limit=limit)]


def example_queries(records: list[BookRecord]) -> list[str]:
    """A title, an author and a few words of a description, from books of different genres."""
    first_of_genre: dict[str, BookRecord] = {}
    for record in records:
        first_of_genre.setdefault(record.genre, record)
    picks = [*first_of_genre.values(), *records][:3]
    queries = []
    if picks:
        queries.append(picks[0].title)
    if len(picks) > 1 and picks[1].author:
        queries.append(picks[1].author)
    if len(picks) > 2 and picks[2].description:
        queries.append(" ".join(picks[2].description.split()[:8]).rstrip(".,;:"))
    return queries


def example_covers(records: list[BookRecord], count: int = 3) -> list[str]:
    """A few sample covers of books in the catalog, spread over it (none when it has no samples)."""
    if not SAMPLE_COVERS.is_dir():
        return []
    samples = sorted(
        {str(path) for path in SAMPLE_COVERS.glob("*.png")} & {str(Path(r.cover)) for r in records if r.cover}
    )
    step = max(1, len(samples) // count)
    return samples[step // 2 :: step][:count]


def catalog_markdown(folio: Folio) -> str:
    """The store's facts for the Catalog tab's "About this catalog"."""
    try:
        info = folio.info()
    except Exception as error:  # a Chroma server that went away: say so rather than break the page
        return f"**The store cannot be reached:** {error}"
    updated = datetime.fromtimestamp(info.updated).astimezone().strftime("%Y-%m-%d %H:%M %Z") if info.updated else "—"
    lines = [
        ("Books", f"{info.books:,}"),
        ("Covers", f"{info.covers:,}"),
        ("Profile", info.profile),
        ("Models", f"`{info.identity}`"),
        ("Last ingest", updated),
        ("Store", f"`{info.location}`"),
    ]
    return "\n".join(f"- **{name}:** {value}" for name, value in lines)


def genre_counts_markdown(folio: Folio) -> str:
    counts = catalog_index(folio).genre_counts()
    return " · ".join(f"{md_escape(genre)} ({count})" for genre, count in sorted(counts.items())) or "No genres."
