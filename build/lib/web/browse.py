"""The Catalog tab: every book, a page at a time, with covers, a find box, a genre filter and a sort."""

from __future__ import annotations

import html
import math

from multimodal import BookRecord
from multimodal.folio import Folio
from web.catalog import ANY_GENRE, catalog_index
from web.render import cover_src, isbn_html

PAGE_SIZE = 24
CATALOG_SORTS = {
    "Title (A–Z)": lambda record: record.title.casefold(),
    "Author (A–Z)": lambda record: (record.author.casefold() or "\uffff", record.title.casefold()),
    "Year (newest first)": lambda record: (-(record.year if record.year is not None else -10_000), record.title),
}


def matching(records: list[BookRecord], find: str, genre: str | None) -> list[BookRecord]:
    words = find.casefold().split()
    return [
        record
        for record in records
        if (not genre or genre == ANY_GENRE or record.genre == genre)
        and all(word in f"{record.title} {record.author}".casefold() for word in words)
    ]


def book_card_html(record: BookRecord) -> str:
    """One book in the list: everything from the catalog escaped (catalog text is data)."""
    alt = f"Cover of {record.title}" + (f" by {record.author}" if record.author else "")
    facts = " · ".join(html.escape(str(value)) for value in (record.year, record.genre) if value)
    isbn = f"<br>ISBN {isbn_html(record.isbn)}" if record.isbn else ""
    return (
        f'<li class="folio-book"><img src="{html.escape(cover_src(record.cover))}" alt="{html.escape(alt)}" '
        f'loading="lazy"><div><strong>{html.escape(record.title)}</strong><br>'
        f"{html.escape(record.author or 'Unknown author')}<br><small>{facts}{isbn}</small></div></li>"
    )


def catalog_page(folio: Folio, find: str | None, genre: str | None, sort: str | None, page: int) -> tuple[str, int]:
    """(the list's HTML with its heading, the page shown) for one page of the matching books."""
    records = matching(catalog_index(folio).fresh().records, find or "", genre)
    records.sort(key=CATALOG_SORTS.get(sort or "", CATALOG_SORTS["Title (A–Z)"]))
    pages = max(1, math.ceil(len(records) / PAGE_SIZE))
    page = min(max(1, int(page or 1)), pages)
    shown = records[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    count = f"{len(records):,} book{'s' if len(records) != 1 else ''}"
    heading = f'<p id="folio-catalog-count" role="status">{count} · page {page} of {pages}</p>'
    if not shown:
        return heading + "<p>No book in the catalog matches.</p>", page
    return heading + f'<ul class="folio-books">{"".join(book_card_html(record) for record in shown)}</ul>', page
