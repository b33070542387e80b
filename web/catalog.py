"""What the page shows about the catalog: its genres and years, example queries and covers, its facts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from multimodal.folio import Folio
from multimodal.store import BookRecord
from web.render import md_escape

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


def catalog_facts(folio: Folio) -> CatalogFacts:
    records = sorted(folio.records(), key=lambda record: record.book_id)
    years = [record.year for record in records if record.year is not None]
    covers = example_covers(records)
    by_cover = {str(Path(record.cover)): record for record in records if record.cover}
    return CatalogFacts(
        books=len(records),
        genres=sorted({record.genre for record in records if record.genre}),
        year_min=min(years, default=None),
        year_max=max(years, default=None),
        example_queries=example_queries(records),
        example_covers=covers,
        example_cover_alts=[f"Example: the cover of {by_cover[path].title}" for path in covers],
    )


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


def catalog_markdown(folio: Folio, genres: Iterable[str]) -> str:
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
        ("Genres", ", ".join(md_escape(genre) for genre in genres) or "—"),
    ]
    return "\n".join(f"- **{name}:** {value}" for name, value in lines)
