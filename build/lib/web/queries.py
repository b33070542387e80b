"""The one request path the page, the REST API and Gradio's API share: validate → search → map errors → advice.

``answer_search`` and ``answer_similar`` return an ``Answer`` (the result and, when it is empty, why
and what to try) or raise ``Refused`` with a kind, an HTTP status and a message; each caller only
words the refusal its own way (a JSON error, a status line on the page, a ``gr.Error``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from multimodal import SearchFilters, SearchResult
from multimodal.errors import BadImage, StoreUnavailable
from multimodal.folio import Folio
from multimodal.images import ImageSource
from web.catalog import canonical, catalog_index, closest

MAX_RESULTS = 100  # the most books one search returns (page and API)
EMPTY_CATALOG = "The catalog is empty — run `python -m ingest CATALOG`."
RefusalKind = Literal["empty_query", "bad_filter", "bad_image", "unavailable", "not_found", "no_cover"]
STATUS: dict[RefusalKind, int] = {
    "empty_query": 422,
    "bad_filter": 422,
    "bad_image": 400,
    "unavailable": 503,
    "not_found": 404,
    "no_cover": 422,
}


class Refused(Exception):
    """A request that could not be answered: ``kind`` says why, ``detail`` is Folio's own message."""

    def __init__(self, kind: RefusalKind, detail: str = "") -> None:
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail
        self.status = STATUS[kind]


@dataclass(frozen=True)
class SearchAsk:
    """What a reader or a client asks: words and/or a cover, how many books, and how to narrow them."""

    text: str = ""
    image: ImageSource | None = None
    k: int = 10
    cross_score: bool = True
    min_score: float | None = None  # None: the settings' default cut-off
    filters: SearchFilters = field(default_factory=SearchFilters)


@dataclass(frozen=True)
class SimilarAsk:
    """Books like a catalog book, by its cover or its description."""

    book_id: str
    by: Literal["cover", "description"] = "cover"
    k: int = 10
    cross_score: bool = True
    min_score: float = 0.0  # a browse has no cut-off unless asked for one
    filters: SearchFilters = field(default_factory=SearchFilters)


@dataclass
class Answer:
    result: SearchResult
    advice: str = ""  # when there are no hits: why, and what to try


def resolved(folio: Folio, filters: SearchFilters) -> SearchFilters:
    """The filters as the catalog spells its genres and authors (case-insensitive); Refused when a
    genre or author is not in the catalog (naming the valid or nearest values) or the years are reversed."""
    index = catalog_index(folio)
    if filters.year_min is not None and filters.year_max is not None and filters.year_min > filters.year_max:
        raise Refused("bad_filter", f"the year range {filters.year_min}–{filters.year_max} is reversed: swap them")
    genre, author = filters.genre, filters.author
    if genre and (genre := canonical(genre, index.genres())) is None:
        raise Refused("bad_filter", f"no genre {filters.genre!r}; the catalog's genres: {', '.join(index.genres())}")
    if author and (author := canonical(author, index.authors())) is None:
        nearest = ", ".join(closest(filters.author or "", index.authors()))
        raise Refused("bad_filter", f"no author {filters.author!r} in the catalog; the nearest: {nearest}")
    return replace(filters, genre=genre or None, author=author or None)


def answer_search(folio: Folio, ask: SearchAsk) -> Answer:
    if not ask.text.strip() and ask.image is None:
        raise Refused("empty_query")
    filters = resolved(folio, ask.filters)
    try:
        result = folio.search(ask.text, ask.image, ask.k, ask.cross_score, ask.min_score, filters)
    except BadImage as error:
        raise Refused("bad_image", str(error)) from error
    except StoreUnavailable as error:
        raise Refused("unavailable", str(error)) from error
    advice = "" if result.hits else no_hits_advice(folio, filters, ask.min_score, typed=ask.image is None)
    return Answer(result, advice)


def answer_similar(folio: Folio, ask: SimilarAsk) -> Answer:
    filters = resolved(folio, ask.filters)
    try:
        result = folio.more_like(ask.book_id, ask.by, ask.k, ask.cross_score, ask.min_score, filters)
    except KeyError as error:
        raise Refused("not_found", f"no book with id {ask.book_id!r}") from error
    except ValueError as error:
        raise Refused("no_cover", str(error)) from error
    except StoreUnavailable as error:
        raise Refused("unavailable", str(error)) from error
    advice = "" if result.hits else no_hits_advice(folio, filters, ask.min_score, typed=True)
    return Answer(result, advice)


def no_hits_advice(folio: Folio, filters: SearchFilters, min_score: float | None, typed: bool) -> str:
    """Why a search found nothing, and what to try next (a photo tip only when a photo was given)."""
    if folio.count() == 0:
        return EMPTY_CATALOG
    tips = []
    if min_score:
        tips.append(f"lower the minimum relevance (min_score, now {min_score:.2f})")
    if filters:  # any filter set
        tips.append("widen or clear the filters (genre, author, years)")
    tips.append("use fewer or different words (a title, an author, or what the book is about)")
    if not typed:
        tips.append("try a sharper, straighter photo of the cover")
    return "No book cleared the cut-off. Try to " + "; ".join(tips) + "."
