"""What the page's events do: turn the page's inputs into a request, answer it, and shape the outputs.

Every search goes through web.queries (the path the REST API takes too); this module only words the
outcome for the page (a header, the cards in tiers, the detail panel) and for Gradio's own API.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio import FileData

from multimodal import Hit, SearchFilters, SearchResult
from multimodal.folio import Folio
from web.catalog import ANY_GENRE, CatalogFacts
from web.explain import query_words
from web.queries import MAX_RESULTS, Refused, SearchAsk, SimilarAsk, answer_search, answer_similar
from web.render import (
    cover_url,
    detail_html,
    gallery_items,
    has_cover,
    md_escape,
    result_header,
    results_table,
    search_facts,
    timings_table,
)

SORTS = {  # the page's sort choices: (label, key over hits, newest first?); relevance keeps the ranking
    "Best match": None,
    "Year (newest first)": lambda hit: -(hit.year if hit.year is not None else -10_000),
    "Title (A–Z)": lambda hit: hit.title.casefold(),
    "Author (A–Z)": lambda hit: hit.author.casefold() or "\uffff",
}
BEST_MATCH = "Best match"
LOAD_MORE_STEP = 10
PROMPT = "Type a few words or add a cover image, then press **Enter** or **Search**."
UNREACHABLE = "**The catalog cannot be reached right now:** {detail}. Try again in a moment."
PAGE_REFUSALS = {
    "bad_filter": "**Check the filters:** {detail}.",
    "bad_image": "**That image can't be used:** {detail}. Try a JPEG or PNG photo of the cover.",
    "unavailable": UNREACHABLE,
}
MORE_LIKE_REFUSALS = {
    "bad_filter": "**Check the filters:** {detail}.",
    "not_found": "**{title} is no longer in the catalog.** Search again to refresh the results.",
    "no_cover": "**{title} has no cover to compare.** Try *More like this description*.",
    "unavailable": UNREACHABLE,
}


@dataclass
class Query:
    text: str
    image: str | None
    k: int
    cross_score: bool
    min_score: float
    filters: SearchFilters
    sort: str = BEST_MATCH
    problem: str = ""  # what is wrong with the inputs, said instead of searching


YEAR = re.compile(r"-?\d{1,4}")


def parse_year(value: str | float | None, name: str) -> tuple[int | None, str]:
    """(the year, or None when empty; what is wrong with it)."""
    if isinstance(value, float) and value.is_integer():  # a number box gives 1999.0
        value = int(value)
    text = str(value if value is not None else "").strip()
    if not text:
        return None, ""
    if not YEAR.fullmatch(text):
        return None, f"“{text}” is not a year ({name}): give one like 1999"
    return int(text), ""


def make_query(
    facts: CatalogFacts,
    text: str | None,
    image: str | None,
    genre: str | None = None,
    author: str | None = None,
    year_from: str | float | None = None,
    year_to: str | float | None = None,
    sort: str | None = BEST_MATCH,
    k: float = 10,
    cross_score: bool = True,
    min_score: float | None = 0.0,
) -> Query:
    """The page's inputs as a search (empty filter fields mean "any")."""
    chosen_genre = None if genre in (None, "", ANY_GENRE) else genre
    year_min, bad_from = parse_year(year_from, "from")
    year_max, bad_to = parse_year(year_to, "to")
    filters = SearchFilters(
        genre=chosen_genre, author=(author or "").strip() or None, year_min=year_min, year_max=year_max
    )
    chosen_sort = sort if sort in SORTS else BEST_MATCH
    return Query(
        (text or "").strip(),
        image or None,
        int(k),
        bool(cross_score),
        float(min_score or 0),
        filters,
        chosen_sort,
        problem=bad_from or bad_to,
    )


def filter_chips(query: Query) -> str:
    """The active filters as short labels above the results (the Filters section may be folded)."""
    filters = query.filters
    chips = [
        *([f"genre: {filters.genre}"] if filters.genre else []),
        *([f"author: {filters.author}"] if filters.author else []),
        *([f"from {filters.year_min}"] if filters.year_min is not None else []),
        *([f"to {filters.year_max}"] if filters.year_max is not None else []),
        *([f"sorted by {query.sort.lower()}"] if query.sort != BEST_MATCH else []),
    ]
    labels = " ".join(f'<span class="folio-chip">{md_escape(chip)}</span>' for chip in chips)
    return f"Active filters: {labels}" if chips else ""


@dataclass
class ResultsView:
    """What the cards show, kept per session so that selecting a card can explain it."""

    hits: list[Hit] = field(default_factory=list)  # in the order shown: the best matches, then the possible ones
    words: frozenset[str] = frozenset()  # the query's words, highlighted where a book has them
    best: int = 0  # how many of ``hits`` are above the "possible matches" divider
    requested: int = 0  # how many books were asked for (load more asks for more)
    query: Query | None = None  # the search shown (None after more-like): the same search is not run twice


def arrange(hits: list[Hit], sort: str) -> tuple[list[Hit], list[Hit]]:
    """(best matches, possible matches): tiers for the ranking; one list in a sorted order."""
    key = SORTS.get(sort)
    if key is not None:
        return sorted(hits, key=key), []
    best = [hit for hit in hits if hit.tier in ("found", "likely")]
    return (best, hits[len(best) :]) if best else (hits, [])


def page_outputs(header: str, result: SearchResult | None = None, view: ResultsView | None = None) -> tuple:
    """(header, best cards, divider, possible cards, load more, table, facts, timings, cover text, view)."""
    view = view or ResultsView()
    best, possible = view.hits[: view.best], view.hits[view.best :]
    hidden = gr.Markdown(visible=False)
    if result is None:
        return (
            header,
            gr.Gallery([], selected_index=None),
            hidden,
            gr.Gallery([], visible=False),
            gr.Button(visible=False),
            "",
            "",
            "",
            "",
            view,
        )
    more = len(result.hits) >= view.requested and view.requested < MAX_RESULTS
    return (
        header,
        gr.Gallery(gallery_items(best), selected_index=None),
        gr.Markdown(visible=bool(possible)),
        gr.Gallery(gallery_items(possible), selected_index=None, visible=bool(possible)),
        gr.Button(visible=more),
        results_table(view.hits),
        search_facts(result),
        timings_table(result),
        result.cover_text,
        view,
    )


def page_search(folio: Folio, query: Query, requested: int | None = None) -> tuple[Any, ...]:
    if not query.text and query.image is None:
        return page_outputs(PROMPT)
    if query.problem:
        return page_outputs(PAGE_REFUSALS["bad_filter"].format(detail=md_escape(query.problem)))
    requested = min(requested or query.k, MAX_RESULTS)
    ask = SearchAsk(query.text, query.image, requested, query.cross_score, query.min_score, query.filters)
    try:
        answer = answer_search(folio, ask)
    except Refused as refusal:
        return page_outputs(PAGE_REFUSALS[refusal.kind].format(detail=md_escape(refusal.detail)))
    result = answer.result
    if not result.hits:
        return page_outputs(f"### No results\n{answer.advice}")
    best, possible = arrange(result.hits, query.sort)
    words = query_words(query.text, result.cover_text)
    view = ResultsView([*best, *possible], words, len(best), requested, query if requested == query.k else None)
    return page_outputs(result_header(result), result, view)


def page_load_more(folio: Folio, query: Query, view: ResultsView | None) -> tuple[Any, ...]:
    """The same search asking for more books (the ranking is stable, so the first ones stay)."""
    shown = view.requested if view and view.requested else query.k
    return page_search(folio, query, shown + LOAD_MORE_STEP)


def page_more_like(folio: Folio, book: Hit | None, by: str, query: Query) -> tuple[Any, ...]:
    """Books like ``book`` by its cover or description, within the page's filters (no relevance cut-off)."""
    if book is None:
        return page_outputs("Select a book in the results first.")
    title = f"*{md_escape(book.title)}*"
    ask = SimilarAsk(book.book_id, by, query.k, query.cross_score, 0.0, query.filters)  # type: ignore[arg-type]
    try:
        result = answer_similar(folio, ask).result
    except Refused as refusal:
        return page_outputs(MORE_LIKE_REFUSALS[refusal.kind].format(title=title, detail=md_escape(refusal.detail)))
    if not result.hits:
        return page_outputs(f"### No results\nNo other book like {title}: widen or clear the filters.")
    words = query_words(book.title, book.description) if by == "description" else frozenset()
    hits = arrange(result.hits, query.sort)[0] if query.sort != BEST_MATCH else result.hits
    view = ResultsView(hits, words, len(hits), query.k)
    return page_outputs(result_header(result, f"like {title} by its {by}"), result, view)


def page_detail(view: ResultsView | None, index: Any) -> tuple[str, Any, Hit | None, Any]:
    """(detail HTML, the detail panel, the selected book, the cover button) for the card at ``index``."""
    hits = view.hits if view else []
    if not isinstance(index, int) or not 0 <= index < len(hits):
        return "", gr.Column(visible=False), None, gr.Button()
    hit = hits[index]
    return detail_html(hit, view.words), gr.Column(visible=True), hit, gr.Button(interactive=has_cover(hit))


# -- Gradio's own API (gradio_client) ------------------------------------------------------------
GRADIO_API_REFUSALS = {
    "empty_query": "Give some words, a cover image, or both.",
    "bad_image": "bad image: {detail}",
    "unavailable": "the store is unavailable: {detail}",
}


def api_result(folio: Folio, text: str, image: str | None, k: int, cross_score: bool) -> dict[str, Any]:
    """SearchResult.to_dict(), each hit with its cover_url, plus a message when nothing was found."""
    ask = SearchAsk(text, image, max(1, min(int(k), MAX_RESULTS)), cross_score)
    try:
        answer = answer_search(folio, ask)
    except Refused as refusal:
        raise gr.Error(GRADIO_API_REFUSALS[refusal.kind].format(detail=refusal.detail)) from refusal
    payload = json.loads(json.dumps(answer.result.to_dict()))  # plain floats: Gradio would send numpy's as strings
    for hit in payload["hits"]:
        hit["cover_url"] = cover_url(hit["book_id"], hit["cover"])
    payload["message"] = answer.advice
    return payload


def upload_path(image: FileData | dict | None) -> str | None:
    if image is None:
        return None
    return image.get("path") if isinstance(image, dict) else image.path
