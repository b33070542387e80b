"""Folio's web app: the search page (Gradio) and the REST API (FastAPI) on one server.

    python app.py [--host 127.0.0.1] [--port 7860] [--profile auto|clip|offline] [--data-dir DIR]

Every setting can also come from the environment (FOLIO_PORT, FOLIO_DATA_DIR, ...; see
multimodal/settings.py). The page is at /, the REST API under /api (its docs at /docs), covers
under /covers, and Gradio's own API (``gradio_client``: ``api_name="/search"``) beside the page.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI
from gradio import FileData
from PIL import Image

from multimodal.api import EMPTY_CATALOG, MAX_RESULTS, MAX_UPLOAD_BYTES, cover_url, create_api, no_hits_advice
from multimodal.errors import BadImage, FolioError, StoreUnavailable
from multimodal.folio import Folio
from multimodal.images import load_image
from multimodal.search import Hit, SearchFilters, SearchResult
from multimodal.settings import Settings
from multimodal.store import BookRecord

ROOT = Path(__file__).resolve().parent
SAMPLE_COVERS = ROOT / "assets" / "sample" / "covers"
ANY_GENRE = "Any genre"
THUMBNAIL = (320, 480)
PROMPT = "Type a few words or add a cover image, then press **Enter** or **Search**."
CSS = """
.prose.folio-banner { background: #fff7e6; border: 1px solid #f5c26b; padding: 10px 14px; border-radius: 8px; }
.prose.folio-status { min-height: 1.5em; }
.prose.folio-table th, .prose.folio-table td:not(:nth-child(2)):not(:last-child) { white-space: nowrap; }
.folio-gallery .grid-wrap { min-height: 0; max-height: none; height: auto; }
.folio-gallery .caption-label {
  white-space: normal; overflow: visible; max-width: 94%; font-size: 12px; line-height: 1.3;
}
"""


# -- start-up ------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve Folio's search page and REST API.")
    parser.add_argument("--host", help="address to bind (FOLIO_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (FOLIO_PORT, default 7860)")
    parser.add_argument("--profile", choices=["auto", "clip", "offline"], help="model profile (FOLIO_PROFILE)")
    parser.add_argument("--data-dir", type=Path, help="where the embedded store lives (FOLIO_DATA_DIR)")
    parser.add_argument("--collection", help="collection name prefix (FOLIO_COLLECTION)")
    parser.add_argument("--chroma-host", help="use a Chroma server at this host (FOLIO_CHROMA_HOST)")
    parser.add_argument("--chroma-port", type=int, help="the Chroma server's port (FOLIO_CHROMA_PORT)")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    names = ("host", "port", "profile", "data_dir", "collection", "chroma_host", "chroma_port")
    return Settings(**{name: value for name in names if (value := getattr(args, name)) is not None})


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = settings_from(parse_args(argv))
    try:
        folio = Folio.open(settings)
        app = create_app(folio)
    except FolioError as error:
        print(f"folio: {error}", file=sys.stderr)
        return 2
    print(f"Folio ({folio.profile} profile, {folio.store.count()} books) on http://{settings.host}:{settings.port}")
    print(f"REST API docs at http://{settings.host}:{settings.port}/docs")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def create_app(folio: Folio) -> FastAPI:
    """The REST API with the Gradio page mounted at /."""
    api = create_api(folio)
    demo = build_ui(folio)
    app = gr.mount_gradio_app(
        api,
        demo,
        path="/",
        allowed_paths=[str(SAMPLE_COVERS)],
        max_file_size=MAX_UPLOAD_BYTES,
        theme=gr.themes.Soft(),
        css=CSS,
    )
    # Gradio only checks that file inputs were really uploaded once an app has "launched"; a mounted
    # app never calls launch(), so without this a client could name any server file as an input.
    demo.has_launched = True
    return app


# -- what the page shows about the catalog -------------------------------------------------------
@dataclass
class CatalogFacts:
    books: int = 0
    genres: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    example_queries: list[str] = field(default_factory=list)
    example_covers: list[str] = field(default_factory=list)


def catalog_facts(folio: Folio) -> CatalogFacts:
    records = sorted(folio.store.iter_records(), key=lambda record: record.book_id)
    years = [record.year for record in records if record.year is not None]
    return CatalogFacts(
        books=len(records),
        genres=sorted({record.genre for record in records if record.genre}),
        year_min=min(years, default=None),
        year_max=max(years, default=None),
        example_queries=example_queries(records),
        example_covers=example_covers(records),
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
        ("Genres", ", ".join(genres) or "—"),
    ]
    return "\n".join(f"- **{name}:** {value}" for name, value in lines)


# -- rendering a result ----------------------------------------------------------------------------
def byline(hit: Hit) -> str:
    return f"{hit.title}" + (f" — {hit.author}" if hit.author else "") + (f" ({hit.year})" if hit.year else "")


def caption(hit: Hit) -> str:
    stages = f"stage1 {hit.stage1_score:.2f}"
    if hit.stage2_score is not None:
        stages += f" → stage2 {hit.stage2_score:.2f}"
    return f"{byline(hit)} · relevance {hit.relevance:.2f} · {stages}"


@lru_cache(maxsize=512)
def thumbnail(cover: str) -> Image.Image | str:
    """A small copy of a cover for the gallery (a URL cover is shown as is, a missing one as grey)."""
    if cover.startswith(("http://", "https://")):
        return cover
    try:
        image = load_image(cover) if cover else None
    except BadImage:
        image = None
    if image is None:
        return Image.new("RGB", (THUMBNAIL[0] // 2, THUMBNAIL[1] // 2), (225, 225, 225))
    image.thumbnail(THUMBNAIL)
    return image


def gallery_items(result: SearchResult) -> list[tuple[Image.Image | str, str]]:
    return [(thumbnail(hit.cover), caption(hit)) for hit in result.hits]


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def results_table(result: SearchResult) -> str:
    if not result.hits:
        return ""
    lines = [
        "| # | Book | Genre | Relevance | Stage 1 (rank) | Stage 2 | Signals |",
        "|---:|---|---|---|---|---|---|",
    ]
    for hit in result.hits:
        stage2 = "—" if hit.stage2_score is None else f"**{hit.stage2_score:.3f}**"
        signals = " · ".join(f"`{name}` {value:.2f}" for name, value in hit.signals.items())
        lines.append(
            f"| {hit.rank} | {md_escape(byline(hit))} | {hit.genre or '—'} | {hit.relevance:.2f} | "
            f"{hit.stage1_score:.3f} (#{hit.stage1_rank}) | {stage2} | {signals} |"
        )
    return "\n".join(lines)


def status_line(result: SearchResult) -> str:
    mode = "cross-scored (stage 2)" if result.cross_scored else "stage 1 only"
    seconds = result.timings_ms.get("total", 0.0) / 1000
    count = len(result.hits)
    return (
        f"**{count} book{'s' if count != 1 else ''}** from {result.candidates} candidates · {mode} · "
        f"{result.profile} profile · {seconds:.2f} s"
    )


def timings_table(result: SearchResult) -> str:
    rows = "\n".join(f"| {stage} | {ms:,.1f} |" for stage, ms in result.timings_ms.items())
    return "| Stage | ms |\n|---|---:|\n" + rows


# -- the page ------------------------------------------------------------------------------------
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


def page_outputs(status: str, result: SearchResult | None = None) -> tuple[Any, ...]:
    """(status, gallery, table, timings, cover text) for the page."""
    if result is None:
        return status, [], "", "", ""
    return status, gallery_items(result), results_table(result), timings_table(result), result.cover_text


def page_search(folio: Folio, query: Query) -> tuple[Any, ...]:
    if not query.text and query.image is None:
        return page_outputs(PROMPT)
    try:
        result = folio.search(query.text, query.image, query.k, query.cross_score, query.min_score, query.filters)
    except BadImage as error:
        return page_outputs(f"**That image can't be used:** {error}. Try a JPEG or PNG photo of the cover.")
    except StoreUnavailable as error:
        return page_outputs(f"**The catalog cannot be reached right now:** {error}. Try again in a moment.")
    if not result.hits:
        advice = no_hits_advice(folio.store.count(), query.filters, query.min_score)
        return page_outputs(f"### No results\n{advice}", result)
    return page_outputs(status_line(result), result)


def api_result(folio: Folio, text: str, image: str | None, k: int, cross_score: bool) -> dict[str, Any]:
    """SearchResult.to_dict(), each hit with its cover_url, plus a message when nothing was found."""
    if not text.strip() and image is None:
        raise gr.Error("Give some words, a cover image, or both.")
    try:
        result = folio.search(text, image, max(1, min(int(k), MAX_RESULTS)), cross_score)
    except BadImage as error:
        raise gr.Error(f"bad image: {error}") from error
    except StoreUnavailable as error:
        raise gr.Error(f"the store is unavailable: {error}") from error
    payload = json.loads(json.dumps(result.to_dict()))  # plain floats: Gradio would send numpy's as strings
    for hit in payload["hits"]:
        hit["cover_url"] = cover_url(hit["book_id"], hit["cover"])
    payload["message"] = "" if result.hits else no_hits_advice(folio.store.count(), SearchFilters(), None)
    return payload


def upload_path(image: FileData | dict | None) -> str | None:
    if image is None:
        return None
    return image.get("path") if isinstance(image, dict) else image.path


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
            outputs = result_outputs()
        with gr.Tab("Catalog"):
            catalog = gr.Markdown(catalog_markdown(folio, facts.genres))
        wire_search(folio, facts, inputs, outputs, text_examples)
        demo.load(lambda: catalog_markdown(folio, facts.genres), None, catalog, api_visibility="private")
        add_gradio_api(folio)
    return demo


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
            image = gr.Image(
                label="Cover image (upload, paste or webcam)",
                type="filepath",
                image_mode=None,
                sources=["upload", "clipboard", "webcam"],
                height=280,
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
            gr.Examples(covers, inputs=[inputs.image], label="Try a cover")  # the image's change runs the search
    return text_examples


def result_outputs() -> list[gr.components.Component]:
    """(status, gallery, table, timings, cover text), in the order page_outputs returns them."""
    status = gr.Markdown(PROMPT, elem_classes="folio-status")
    gallery = gr.Gallery(
        label="Results",
        show_label=False,
        columns=5,
        height="auto",
        object_fit="contain",
        elem_classes="folio-gallery",
    )
    table = gr.Markdown(elem_classes="folio-table")
    with gr.Accordion("Advanced: timings and the text read off the cover", open=False):
        timings = gr.Markdown()
        cover_text = gr.Textbox(label="Text read off the query cover (OCR)", interactive=False, lines=2)
    return [status, gallery, table, timings, cover_text]


def wire_search(
    folio: Folio,
    facts: CatalogFacts,
    inputs: SearchInputs,
    outputs: list[gr.components.Component],
    text_examples: gr.Examples | None,
) -> None:
    def on_search(*values: Any) -> tuple[Any, ...]:
        return page_search(folio, make_query(facts, *values))

    components = inputs.components()
    triggers = [inputs.text.submit, inputs.search.click, inputs.image.change, inputs.cross_score.change]
    gr.on(triggers, on_search, components, outputs, api_visibility="private")
    if text_examples is not None:
        text_examples.load_input_event.then(on_search, components, outputs, api_visibility="private")
    inputs.clear.add([inputs.text, inputs.image, *outputs])


def add_gradio_api(folio: Folio) -> None:
    """The endpoint for gradio_client: ``Client(url).predict(text, image, k, cross_score, api_name="/search")``."""

    def search(text: str = "", image: FileData | None = None, k: int = 10, cross_score: bool = True) -> dict:
        """Search Folio by words and/or a cover image; returns the hits with both stages' scores."""
        return api_result(folio, text, upload_path(image), k, cross_score)

    gr.api(search, api_name="search")


if __name__ == "__main__":
    sys.exit(main())
