"""The search page (Gradio): its layout and the wiring of its events to web.handlers and web.browse.

``build_ui(folio)`` returns the gr.Blocks; web.server mounts it beside the REST API. The page is
phone first: words and the cover input come first, filters and the advanced settings are folded
(the active filters show as chips), the results scroll into view after a search. The JavaScript
below labels cards for screen readers, closes the detail panel with Escape and scrolls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio import FileData

from multimodal import Hit
from multimodal.folio import Folio
from multimodal.settings import Settings
from web.browse import CATALOG_SORTS, catalog_page
from web.catalog import ANY_GENRE, CatalogFacts, catalog_facts, catalog_markdown, genre_counts_markdown
from web.components import lenient, results_gallery
from web.handlers import (
    BEST_MATCH,
    PROMPT,
    SORTS,
    ResultsView,
    api_result,
    filter_chips,
    make_query,
    page_detail,
    page_load_more,
    page_more_like,
    page_search,
    upload_path,
)
from web.queries import EMPTY_CATALOG
from web.style import BACK_TO_RESULTS_JS, FOCUS_DETAIL_JS, SCROLL_TO_RESULTS_JS, page_js


@dataclass
class SearchInputs:
    text: gr.Textbox
    image: gr.Image
    search: gr.Button
    clear: gr.Button
    genre: gr.Dropdown
    author: gr.Textbox
    year_from: gr.Textbox
    year_to: gr.Textbox
    sort: gr.Dropdown
    k: gr.Slider
    cross_score: gr.Checkbox
    min_score: gr.Slider

    def components(self) -> list[gr.components.Component]:
        """In the order make_query takes them."""
        return [
            self.text,
            self.image,
            self.genre,
            self.author,
            self.year_from,
            self.year_to,
            self.sort,
            self.k,
            self.cross_score,
            self.min_score,
        ]

    def defaults(self, settings: Settings) -> list[Any]:
        """What Clear puts back, in the order of components()."""
        return [None, None, ANY_GENRE, "", "", "", BEST_MATCH, settings.results, True, 0.0]


@dataclass
class ResultOutputs:
    header: gr.Markdown
    chips: gr.Markdown
    best: gr.Gallery
    divider: gr.Markdown
    possible: gr.Gallery
    load_more: gr.Button
    table: gr.Markdown
    facts: gr.Markdown
    timings: gr.Markdown
    cover_text: gr.Textbox
    view: gr.State

    def components(self) -> list[gr.components.Component]:
        """In the order page_outputs returns them."""
        return [
            self.header,
            self.best,
            self.divider,
            self.possible,
            self.load_more,
            self.table,
            self.facts,
            self.timings,
            self.cover_text,
            self.view,
        ]


@dataclass
class DetailPanel:
    column: gr.Column
    html: gr.HTML
    selected: gr.State
    like_cover: gr.Button
    like_description: gr.Button
    back: gr.Button


def build_ui(folio: Folio) -> gr.Blocks:
    facts = catalog_facts(folio)
    with gr.Blocks(title="Folio — book search") as demo:
        banners(folio, facts)
        with gr.Tab("Search"):
            inputs = search_inputs(facts, folio.settings)
            outputs, detail = result_outputs()
            text_examples = examples(facts, inputs)
            advanced = advanced_section(inputs, outputs, folio.settings)
        with gr.Tab("Catalog"):
            catalog_facts_shown = catalog_tab(folio, facts)
        wire_search(folio, facts, inputs, outputs, detail, text_examples, advanced)
        wire_detail(folio, facts, inputs, outputs, detail)
        demo.load(None, js=page_js(facts.example_cover_alts), api_visibility="private")
        demo.load(
            lambda: (genre_counts_markdown(folio), catalog_markdown(folio)),
            None,
            catalog_facts_shown,
            api_visibility="private",
        )
        add_gradio_api(folio)
    return demo


def banners(folio: Folio, facts: CatalogFacts) -> None:
    gr.Markdown("# Folio\nFind a book by a photo of its cover, by words, or both.")
    if folio.notice:
        gr.Markdown(f"⚠️ {folio.notice}", elem_classes="folio-banner", elem_id="folio-profile")
    elif folio.profile != "clip":
        gr.Markdown(
            f"Search runs on the **{folio.profile}** profile (no CLIP model): covers are matched by their printed "
            "text and a visual fingerprint, words by a small text model.",
            elem_classes="folio-banner",
            elem_id="folio-profile",
        )
    if facts.books == 0:
        gr.Markdown(f"**{EMPTY_CATALOG}**", elem_classes="folio-banner")


def search_inputs(facts: CatalogFacts, settings: Settings) -> SearchInputs:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=280):
            text = gr.Textbox(
                label="Words",
                placeholder="a title, an author, or what the book is about — press Enter to search",
                max_lines=1,
                autofocus=True,
            )
            with gr.Row():
                search = gr.Button("Search", variant="primary", scale=2, min_width=80)
                clear = gr.Button("Clear", scale=1, min_width=60, elem_id="folio-clear")
        with gr.Column(scale=2, min_width=280):
            image = lenient(
                gr.Image(
                    label="Cover photo (camera, upload or paste)",
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "webcam", "clipboard"],
                    height=220,
                    elem_id="folio-cover",
                )
            )
    with gr.Accordion("Filters", open=False, elem_id="folio-filters"):
        with gr.Row():
            genre = gr.Dropdown([ANY_GENRE, *facts.genres], value=ANY_GENRE, label="Genre")
            author = gr.Textbox(label="Author", placeholder="any author (press Enter)", max_lines=1)
        with gr.Row():
            year_from = gr.Textbox(label="Published from (year)", placeholder="any year (press Enter)", max_lines=1)
            year_to = gr.Textbox(label="Published to (year)", placeholder="any year (press Enter)", max_lines=1)
        sort = gr.Dropdown(list(SORTS), value=BEST_MATCH, label="Sort by")
    k = gr.Slider(1, 50, value=settings.results, step=1, label="Number of results", render=False)
    cross_score = gr.Checkbox(value=True, label="Cross-scoring (stage 2)", render=False)
    min_score = gr.Slider(0, 1, value=0.0, step=0.05, label="Minimum relevance (hide weaker books)", render=False)
    return SearchInputs(text, image, search, clear, genre, author, year_from, year_to, sort, k, cross_score, min_score)


def result_outputs() -> tuple[ResultOutputs, DetailPanel]:
    """The header, the active filters, the best cards, the possible ones below a divider, load more, the detail."""
    header = gr.Markdown(PROMPT, elem_id="folio-status", elem_classes="folio-status")
    chips = gr.Markdown(elem_id="folio-chips")
    best = results_gallery("folio-gallery", "Results")
    divider = gr.Markdown("#### Possible matches", visible=False, elem_id="folio-divider")
    possible = results_gallery("folio-gallery-possible", "Possible matches", visible=False)
    load_more = gr.Button("Show more books", visible=False, size="md", elem_id="folio-load-more")
    detail = detail_panel()
    table = gr.Markdown(elem_classes="folio-table", render=False)
    facts = gr.Markdown(render=False)
    timings = gr.Markdown(render=False)
    cover_text = gr.Textbox(label="Text read off the query cover (OCR)", interactive=False, lines=2, render=False)
    outputs = ResultOutputs(
        header, chips, best, divider, possible, load_more, table, facts, timings, cover_text, gr.State(ResultsView())
    )
    return outputs, detail


def detail_panel() -> DetailPanel:
    with gr.Column(visible=False, elem_id="folio-detail") as column:
        back = gr.Button("← Back to my results", size="md", elem_id="folio-back")
        html_view = gr.HTML()
        with gr.Row():
            like_cover = gr.Button("More like this cover", variant="primary", size="md")
            like_description = gr.Button("More like this description", variant="primary", size="md")
    return DetailPanel(column, html_view, gr.State(None), like_cover, like_description, back)


def examples(facts: CatalogFacts, inputs: SearchInputs) -> gr.Examples | None:
    """Example queries one click away; returns the text examples (their click also runs the search)."""
    text_examples = None
    with gr.Row():
        if facts.example_queries:
            queries = [[query] for query in facts.example_queries]
            text_examples = gr.Examples(queries, inputs=[inputs.text], label="Try words")
        if facts.example_covers:
            covers = [[path] for path in facts.example_covers]
            # the image's change runs the search
            gr.Examples(covers, inputs=[inputs.image], label="Try a cover", elem_id="folio-cover-examples")
    return text_examples


def advanced_section(inputs: SearchInputs, outputs: ResultOutputs, settings: Settings) -> gr.Accordion:
    """Settings for people who know the engine, the scores of every result, and the timings."""
    with gr.Accordion("Advanced: cut-off, stage scores and timings", open=False) as advanced:
        with gr.Row():
            inputs.cross_score.render()
            inputs.k.render()
            inputs.min_score.render()
        outputs.facts.render()
        outputs.table.render()
        outputs.timings.render()
        outputs.cover_text.render()
    return advanced


def catalog_tab(folio: Folio, facts: CatalogFacts) -> list[gr.Markdown]:
    """Every book, a page at a time: find by title or author, a genre, a sort; counts per genre."""
    counts = gr.Markdown(genre_counts_markdown(folio), elem_id="folio-genre-counts")
    with gr.Row():
        find = gr.Textbox(label="Find in the catalog", placeholder="title or author words", max_lines=1, scale=3)
        genre = gr.Dropdown([ANY_GENRE, *facts.genres], value=ANY_GENRE, label="Genre", scale=1)
        sort = gr.Dropdown(list(CATALOG_SORTS), value="Title (A–Z)", label="Sort by", scale=1)
    first_html, _ = catalog_page(folio, "", None, None, 1)
    listing = gr.HTML(first_html, elem_id="folio-catalog")
    page = gr.State(1)
    with gr.Row():
        previous = gr.Button("← Previous page", size="md")
        following = gr.Button("Next page →", size="md", elem_id="folio-next-page")
    with gr.Accordion("About this catalog", open=False):
        about = gr.Markdown(catalog_markdown(folio))

    def show(find_text: str, chosen: str, order: str, number: int) -> tuple[str, int]:
        return catalog_page(folio, find_text, chosen, order, number)

    fields = [find, genre, sort]
    changed = [find.change, genre.input, sort.input]
    gr.on(
        changed, lambda *v: show(*v, 1), fields, [listing, page], api_visibility="private", trigger_mode="always_last"
    )
    previous.click(lambda *v: show(*v[:3], v[3] - 1), [*fields, page], [listing, page], api_visibility="private")
    following.click(lambda *v: show(*v[:3], v[3] + 1), [*fields, page], [listing, page], api_visibility="private")
    return [counts, about]


def wire_search(
    folio: Folio,
    facts: CatalogFacts,
    inputs: SearchInputs,
    outputs: ResultOutputs,
    detail: DetailPanel,
    text_examples: gr.Examples | None,
    advanced: gr.Accordion,
) -> None:
    """Enter, Search, a new cover, or a changed filter or option runs the search (and closes an open detail)."""

    def on_search(view: ResultsView, *values: Any) -> tuple[Any, ...]:
        query = make_query(facts, *values)
        if view is not None and view.query == query:  # Gradio fires an image's change twice when it is replaced
            return tuple(gr.skip() for _ in targets)
        return (*page_search(folio, query), filter_chips(query), gr.Column(visible=False))

    def on_load_more(view: ResultsView, *values: Any) -> tuple[Any, ...]:
        query = make_query(facts, *values)
        return (*page_load_more(folio, query, view), filter_chips(query), gr.Column(visible=False))

    components = inputs.components()
    targets = [*outputs.components(), outputs.chips, detail.column]
    triggers = [
        inputs.text.submit,
        inputs.search.click,
        inputs.image.change,
        inputs.genre.input,
        inputs.author.submit,
        inputs.year_from.submit,
        inputs.year_to.submit,
        inputs.year_from.blur,
        inputs.year_to.blur,
        inputs.sort.input,
        inputs.cross_score.input,
        *(slider.release for slider in (inputs.k, inputs.min_score)),
    ]
    searched = gr.on(
        triggers, on_search, [outputs.view, *components], targets, api_visibility="private", trigger_mode="always_last"
    )
    searched.then(None, js=SCROLL_TO_RESULTS_JS, api_visibility="private")
    if text_examples is not None:
        text_examples.load_input_event.then(on_search, [outputs.view, *components], targets, api_visibility="private")
    loaded_more = outputs.load_more.click(on_load_more, [outputs.view, *components], targets, api_visibility="private")

    def on_clear() -> tuple[Any, ...]:
        return (
            *inputs.defaults(folio.settings),
            *page_search(folio, make_query(facts, "", None)),
            "",
            gr.Column(visible=False),
        )

    # A search still running when Clear is clicked (a year box's blur fires one as the reader moves on) is cancelled:
    # its late answer would bring the cleared filters back.
    inputs.clear.click(
        on_clear, None, [*components, *targets], api_visibility="private", cancels=[searched, loaded_more]
    )


def wire_detail(
    folio: Folio, facts: CatalogFacts, inputs: SearchInputs, outputs: ResultOutputs, detail: DetailPanel
) -> None:
    """Selecting a card (click, or Enter on it) explains it; its buttons fill the cards with similar books."""

    def on_select_best(view: ResultsView, event: gr.SelectData) -> tuple[Any, ...]:
        return page_detail(view, event.index)

    def on_select_possible(view: ResultsView, event: gr.SelectData) -> tuple[Any, ...]:
        return page_detail(view, view.best + event.index if isinstance(event.index, int) else None)

    shown = [detail.html, detail.column, detail.selected, detail.like_cover]
    for gallery, handler in ((outputs.best, on_select_best), (outputs.possible, on_select_possible)):
        selected = gallery.select(handler, outputs.view, shown, api_visibility="private")
        selected.then(None, js=FOCUS_DETAIL_JS, api_visibility="private")
    targets = [*outputs.components(), outputs.chips, detail.column]
    for button, by in ((detail.like_cover, "cover"), (detail.like_description, "description")):

        def on_more_like(book: Hit | None, *values: Any, by: str = by) -> tuple[Any, ...]:
            query = make_query(facts, *values)
            return (*page_more_like(folio, book, by, query), filter_chips(query), gr.Column(visible=False))

        liked = button.click(on_more_like, [detail.selected, *inputs.components()], targets, api_visibility="private")
        liked.then(None, js=BACK_TO_RESULTS_JS, api_visibility="private")
    closed = detail.back.click(lambda: (gr.Column(visible=False), None), None, [detail.column, detail.selected])
    closed.then(None, js=BACK_TO_RESULTS_JS, api_visibility="private")


def add_gradio_api(folio: Folio) -> None:
    """The endpoint for gradio_client: ``Client(url).predict(text, image, k, cross_score, api_name="/search")``."""

    def search(text: str = "", image: FileData | None = None, k: int = 10, cross_score: bool = True) -> dict:
        """Search Folio by words and/or a cover image; returns the hits with both stages' scores."""
        return api_result(folio, text, upload_path(image), k, cross_score)

    gr.api(search, api_name="search")
