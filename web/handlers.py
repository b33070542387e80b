"""What the page's events do: turn the page's inputs into a request, answer it, and shape the outputs.

Every search goes through web.queries (the path the REST API takes too); this module only words the
outcome for the page (a status line, the gallery, the detail panel) and for Gradio's own API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from gradio import FileData

from multimodal.folio import Folio
from multimodal.search import Hit, SearchFilters, SearchResult
from web.catalog import CatalogFacts
from web.explain import query_words
from web.queries import Refused, SearchAsk, SimilarAsk, answer_search, answer_similar
from web.render import (
    cover_url,
    detail_html,
    gallery_items,
    has_cover,
    md_escape,
    results_table,
    status_line,
    timings_table,
)

ANY_GENRE = "Any genre"
MAX_RESULTS = 100
PROMPT = "Type a few words or add a cover image, then press **Enter** or **Search**."
UNREACHABLE = "**The catalog cannot be reached right now:** {detail}. Try again in a moment."
PAGE_REFUSALS = {
    "bad_image": "**That image can't be used:** {detail}. Try a JPEG or PNG photo of the cover.",
    "unavailable": UNREACHABLE,
}
MORE_LIKE_REFUSALS = {
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


def make_query(
    facts: CatalogFacts,
    text: str | None,
    image: str | None,
    k: float,
    cross_score: bool,
    genre: str | None,
    year_from: float | None,
    year_to: float | None,
    min_score: float | None,
) -> Query:
    """The page's inputs as a search; year bounds only count when narrower than the catalog's span."""
    year_min = int(year_from) if facts.year_min is not None and year_from and year_from > facts.year_min else None
    year_max = int(year_to) if facts.year_max is not None and year_to and year_to < facts.year_max else None
    chosen_genre = None if genre in (None, "", ANY_GENRE) else genre
    filters = SearchFilters(genre=chosen_genre, year_min=year_min, year_max=year_max)
    return Query((text or "").strip(), image or None, int(k), bool(cross_score), float(min_score or 0), filters)


@dataclass
class ResultsView:
    """What the gallery shows, kept per session so that selecting a card can explain it."""

    hits: list[Hit] = field(default_factory=list)
    words: frozenset[str] = frozenset()  # the query's words, highlighted where a book has them


def page_outputs(status: str, result: SearchResult | None = None, words: frozenset[str] = frozenset()) -> tuple:
    """(status, gallery, table, timings, cover text, results view) for the page."""
    if result is None:
        return status, [], "", "", "", ResultsView()
    return (
        status,
        gallery_items(result),
        results_table(result),
        timings_table(result),
        result.cover_text,
        ResultsView(result.hits, words),
    )


def page_search(folio: Folio, query: Query) -> tuple[Any, ...]:
    if not query.text and query.image is None:
        return page_outputs(PROMPT)
    ask = SearchAsk(query.text, query.image, query.k, query.cross_score, query.min_score, query.filters)
    try:
        answer = answer_search(folio, ask)
    except Refused as refusal:
        return page_outputs(PAGE_REFUSALS[refusal.kind].format(detail=refusal.detail))
    words = query_words(query.text, answer.result.cover_text)
    if not answer.result.hits:
        return page_outputs(f"### No results\n{answer.advice}", answer.result, words)
    return page_outputs(status_line(answer.result), answer.result, words)


def page_more_like(folio: Folio, book: Hit | None, by: str, query: Query) -> tuple[Any, ...]:
    """Books like ``book`` by its cover or description, within the page's filters (no relevance cut-off)."""
    if book is None:
        return page_outputs("Select a book in the results first.")
    title = f"*{md_escape(book.title)}*"
    ask = SimilarAsk(book.book_id, by, query.k, query.cross_score, 0.0, query.filters)  # type: ignore[arg-type]
    try:
        result = answer_similar(folio, ask).result
    except Refused as refusal:
        return page_outputs(MORE_LIKE_REFUSALS[refusal.kind].format(title=title, detail=refusal.detail))
    words = query_words(book.title, book.description) if by == "description" else frozenset()
    if not result.hits:
        return page_outputs(f"### No results\nNo other book like {title}: widen or clear the filters.", result)
    return page_outputs(status_line(result, f" like {title} by its {by}"), result, words)


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
