"""The search page (Gradio): its layout and the wiring of its events to web.handlers.

``build_ui(folio)`` returns the gr.Blocks; web.server mounts it beside the REST API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio import FileData
from gradio.components.image import ImageData
from PIL import Image

from multimodal.folio import Folio
from multimodal.search import Hit
from multimodal.settings import Settings
from web.catalog import CatalogFacts, catalog_facts, catalog_markdown
from web.handlers import (
    ANY_GENRE,
    PROMPT,
    ResultsView,
    api_result,
    make_query,
    page_detail,
    page_more_like,
    page_search,
    upload_path,
)
from web.queries import EMPTY_CATALOG

CSS = """
.prose.folio-banner { background: #fff7e6; border: 1px solid #f5c26b; padding: 10px 14px; border-radius: 8px; }
.prose.folio-status { min-height: 1.5em; }
.prose.folio-table { overflow-x: auto; }
.prose.folio-table th, .prose.folio-table td:not(:nth-child(2)):not(:last-child) { white-space: nowrap; }
.prose.folio-table td:nth-child(2) { min-width: 160px; }
.folio-gallery .grid-wrap { min-height: 0; max-height: none; height: auto; }
.folio-gallery .caption-label {
  white-space: normal; overflow: visible; max-width: 94%; font-size: 12px; line-height: 1.3;
}
.folio-gallery .thumbnail-item:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }
.folio-detail-card { display: flex; gap: 18px; align-items: flex-start; }
.folio-detail-card > img { width: 200px; max-width: 40%; height: auto; border-radius: 6px; flex: none; }
.folio-detail-card > div { flex: 1; min-width: 0; }
.folio-detail-card h2 { margin-top: 0; }
.folio-scroll { overflow-x: auto; max-width: 100%; }
.folio-detail-card h2:focus { outline: none; }
.folio-detail-card mark { background: #ffe58a; color: #1f2937; padding: 0 2px; border-radius: 2px; }
.folio-detail-card table { font-size: 13px; margin: 6px 0; }
.folio-badge {
  display: inline-block; background: #e6f4ea; color: #14532d; border-radius: 999px; padding: 1px 10px; font-weight: 600;
}
@media (max-width: 640px) {
  .folio-gallery .grid-container { --grid-cols: 2 !important; }
  .folio-gallery .caption-label {
    display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; font-size: 11px;
    padding-bottom: 0;
  }
  .folio-detail-card { flex-direction: column; align-items: stretch; }
  .folio-detail-card > img { max-width: 60%; align-self: flex-start; }
  .folio-detail-card .folio-compares { display: none; }
}
"""
# After a card is selected: bring its explanation into view and move the keyboard focus there.
FOCUS_DETAIL_JS = """() => {
  const heading = document.querySelector('#folio-detail h2');
  if (heading) { heading.scrollIntoView({block: 'start'}); heading.focus({preventScroll: true}); }
}"""


# After a card is selected: bring its explanation into view and move the keyboard focus there.
FOCUS_DETAIL_JS = """() => {
  const heading = document.querySelector('#folio-detail h2');
  if (heading) { heading.scrollIntoView({block: 'start'}); heading.focus({preventScroll: true}); }
}"""


def lenient(image: gr.Image) -> gr.Image:
    """Make ``image`` hand an unreadable upload on as its path, so the search can say what is wrong with it.

    Gradio opens every image upload with Pillow before the event handler runs; a PDF named .jpg would
    otherwise end in Gradio's generic "could not preprocess" error instead of Folio's explanation.
    (The instance's method is replaced: a gr.Image subclass would make Gradio write an app.pyi stub.)
    """
    strict = image.preprocess

    def preprocess(payload: ImageData | None) -> str | None:
        try:
            return strict(payload)
        except (OSError, ValueError, Image.DecompressionBombError):  # UnidentifiedImageError is an OSError
            return payload.path if payload else None

    image.preprocess = preprocess
    return image


@dataclass
class SearchInputs:
    text: gr.Textbox
    image: gr.Image
    k: gr.Slider
    cross_score: gr.Checkbox
    genre: gr.Dropdown
    year_from: gr.Slider
    year_to: gr.Slider
    min_score: gr.Slider
    search: gr.Button
    clear: gr.ClearButton

    def components(self) -> list[gr.components.Component]:
        """In the order make_query takes them."""
        fields = (self.text, self.image, self.k, self.cross_score, self.genre, self.year_from, self.year_to)
        return [*fields, self.min_score]


def build_ui(folio: Folio) -> gr.Blocks:
    facts = catalog_facts(folio)
    with gr.Blocks(title="Folio — book search") as demo:
        banners(folio, facts)
        with gr.Tab("Search"):
            inputs = search_inputs(facts, folio.settings)
            text_examples = examples(facts, inputs)
            outputs, detail = result_outputs()
        with gr.Tab("Catalog"):
            catalog = gr.Markdown(catalog_markdown(folio, facts.genres))
        wire_search(folio, facts, inputs, outputs, detail, text_examples)
        wire_detail(folio, facts, inputs, outputs, detail)
        demo.load(lambda: catalog_markdown(folio, facts.genres), None, catalog, api_visibility="private")
        demo.load(None, js=alt_text_js(facts.example_cover_alts), api_visibility="private")
        add_gradio_api(folio)
    return demo


def alt_text_js(example_alts: list[str]) -> str:
    """Alt text for the images Gradio draws without any: the cover a reader gave, and the example covers."""
    return f"""() => {{
  const examples = {json.dumps(example_alts)};
  const label = () => {{
    document.querySelectorAll('#folio-cover img:not([alt]), #folio-cover img[alt=""]')
      .forEach(img => {{ img.alt = 'The cover image you gave'; }});
    document.querySelectorAll('#folio-cover-examples img')
      .forEach((img, i) => {{ if (!img.alt && examples[i]) img.alt = examples[i]; }});
  }};
  label();
  new MutationObserver(label).observe(document.body, {{subtree: true, childList: true}});
}}"""


def banners(folio: Folio, facts: CatalogFacts) -> None:
    gr.Markdown("# Folio\nFind a book by a photo of its cover, by words, or both.")
    if folio.notice:
        gr.Markdown(f"⚠️ {folio.notice}", elem_classes="folio-banner")
    if facts.books == 0:
        gr.Markdown(f"**{EMPTY_CATALOG}**", elem_classes="folio-banner")


def search_inputs(facts: CatalogFacts, settings: Settings) -> SearchInputs:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            text = gr.Textbox(
                label="Words",
                placeholder="a title, an author, or what the book is about — press Enter to search",
                max_lines=1,
                autofocus=True,
            )
            with gr.Row():
                search = gr.Button("Search", variant="primary", scale=2)
                clear = gr.ClearButton(value="Clear", scale=1)
            with gr.Row():
                cross_score = gr.Checkbox(value=True, label="Cross-scoring (stage 2)")
                k = gr.Slider(1, 50, value=settings.results, step=1, label="Number of results")
            with gr.Row():
                genre = gr.Dropdown([ANY_GENRE, *facts.genres], value=ANY_GENRE, label="Genre")
                min_score = gr.Slider(0, 1, value=settings.min_score, step=0.05, label="Minimum relevance")
            with gr.Row(visible=facts.year_min is not None):
                low = facts.year_min or 0
                high = max(facts.year_max or 0, low + 1)  # a slider needs a span
                year_from = gr.Slider(low, high, value=low, step=1, label="Published from")
                year_to = gr.Slider(low, high, value=high, step=1, label="Published to")
        with gr.Column(scale=2):
            image = lenient(
                gr.Image(
                    label="Cover image (upload, paste or webcam)",
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "clipboard", "webcam"],
                    height=280,
                    elem_id="folio-cover",
                )
            )
    return SearchInputs(text, image, k, cross_score, genre, year_from, year_to, min_score, search, clear)


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


@dataclass
class ResultOutputs:
    status: gr.Markdown
    gallery: gr.Gallery
    table: gr.Markdown
    timings: gr.Markdown
    cover_text: gr.Textbox
    view: gr.State

    def components(self) -> list[gr.components.Component]:
        """In the order page_outputs returns them."""
        return [self.status, self.gallery, self.table, self.timings, self.cover_text, self.view]


@dataclass
class DetailPanel:
    column: gr.Column
    html: gr.HTML
    selected: gr.State
    like_cover: gr.Button
    like_description: gr.Button
    close: gr.Button


def result_outputs() -> tuple[ResultOutputs, DetailPanel]:
    """The status line, the gallery of cards, the detail of the selected card, the table and the timings."""
    status = gr.Markdown(PROMPT, elem_id="folio-status", elem_classes="folio-status")
    gallery = gr.Gallery(
        label="Results",
        show_label=False,
        columns=5,
        height="auto",
        object_fit="contain",
        allow_preview=False,  # selecting a card opens its detail panel instead
        fit_columns=False,  # one hit stays a card, not a poster
        buttons=[],
        elem_id="folio-gallery",
        elem_classes="folio-gallery",
    )
    detail = detail_panel()
    table = gr.Markdown(elem_classes="folio-table")
    with gr.Accordion("Advanced: timings and the text read off the cover", open=False):
        timings = gr.Markdown()
        cover_text = gr.Textbox(label="Text read off the query cover (OCR)", interactive=False, lines=2)
    return ResultOutputs(status, gallery, table, timings, cover_text, gr.State(ResultsView())), detail


def detail_panel() -> DetailPanel:
    with gr.Column(visible=False, elem_id="folio-detail") as column:
        html_view = gr.HTML()
        with gr.Row():
            like_cover = gr.Button("More like this cover", variant="primary", size="md")
            like_description = gr.Button("More like this description", variant="primary", size="md")
            close = gr.Button("Close", size="md")
    return DetailPanel(column, html_view, gr.State(None), like_cover, like_description, close)


def wire_search(
    folio: Folio,
    facts: CatalogFacts,
    inputs: SearchInputs,
    outputs: ResultOutputs,
    detail: DetailPanel,
    text_examples: gr.Examples | None,
) -> None:
    """Enter, Search, a new cover, or a changed option runs the search (and closes an open detail)."""

    def on_search(*values: Any) -> tuple[Any, ...]:
        return (*page_search(folio, make_query(facts, *values)), gr.Column(visible=False))

    components = inputs.components()
    targets = [*outputs.components(), detail.column]
    triggers = [
        inputs.text.submit,
        inputs.search.click,
        inputs.image.change,
        inputs.cross_score.change,
        inputs.genre.input,
        *(slider.release for slider in (inputs.k, inputs.min_score, inputs.year_from, inputs.year_to)),
    ]
    gr.on(triggers, on_search, components, targets, api_visibility="private")
    if text_examples is not None:
        text_examples.load_input_event.then(on_search, components, targets, api_visibility="private")
    inputs.clear.add([inputs.text, inputs.image, *outputs.components()[:-1]])
    inputs.clear.click(lambda: (ResultsView(), gr.Column(visible=False)), None, [outputs.view, detail.column])


def wire_detail(
    folio: Folio, facts: CatalogFacts, inputs: SearchInputs, outputs: ResultOutputs, detail: DetailPanel
) -> None:
    """Selecting a card (click, or Enter on it) explains it; its buttons fill the gallery with similar books."""

    def on_select(view: ResultsView, event: gr.SelectData) -> tuple[Any, ...]:
        return page_detail(view, event.index)

    shown = [detail.html, detail.column, detail.selected, detail.like_cover]
    selected = outputs.gallery.select(on_select, outputs.view, shown, api_visibility="private")
    selected.then(None, js=FOCUS_DETAIL_JS, api_visibility="private")
    for button, by in ((detail.like_cover, "cover"), (detail.like_description, "description")):

        def on_more_like(book: Hit | None, *values: Any, by: str = by) -> tuple[Any, ...]:
            return page_more_like(folio, book, by, make_query(facts, *values))

        button.click(
            on_more_like, [detail.selected, *inputs.components()], outputs.components(), api_visibility="private"
        )
    detail.close.click(lambda: gr.Column(visible=False), None, detail.column, api_visibility="private")


def add_gradio_api(folio: Folio) -> None:
    """The endpoint for gradio_client: ``Client(url).predict(text, image, k, cross_score, api_name="/search")``."""

    def search(text: str = "", image: FileData | None = None, k: int = 10, cross_score: bool = True) -> dict:
        """Search Folio by words and/or a cover image; returns the hits with both stages' scores."""
        return api_result(folio, text, upload_path(image), k, cross_score)

    gr.api(search, api_name="search")
