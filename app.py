"""Folio's web app: the search page (Gradio) and the REST API (FastAPI) on one server.

    python app.py [--host 127.0.0.1] [--port 7860] [--profile auto|clip|offline] [--data-dir DIR] [--auth USER:PASSWORD]

Every setting can also come from the environment (FOLIO_PORT, FOLIO_DATA_DIR, ...; see
multimodal/settings.py). The page is at /, the REST API under /api (its docs at /docs), covers
under /covers, and Gradio's own API (``gradio_client``: ``api_name="/search"``) beside the page.

The app binds 127.0.0.1 unless told otherwise. On any other address it starts only with a login
for the page (``FOLIO_AUTH=user:password`` or ``--auth``) and a bearer token for the REST API
(``FOLIO_API_TOKEN``); either can also be set on loopback.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import ipaddress
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI
from gradio import FileData
from gradio.components.image import ImageData
from PIL import Image

from multimodal.errors import BadImage, FolioError, StoreUnavailable
from multimodal.folio import Folio
from multimodal.images import load_image
from multimodal.search import Hit, SearchFilters, SearchResult
from multimodal.settings import Settings
from multimodal.store import BookRecord
from web.api import EMPTY_CATALOG, MAX_RESULTS, MAX_UPLOAD_BYTES, cover_url, create_api, no_hits_advice

ROOT = Path(__file__).resolve().parent
SAMPLE_COVERS = ROOT / "assets" / "sample" / "covers"
ANY_GENRE = "Any genre"
THUMBNAIL = (320, 480)
PROMPT = "Type a few words or add a cover image, then press **Enter** or **Search**."
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
    parser.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="login for the page (FOLIO_AUTH); the REST API's bearer token comes from FOLIO_API_TOKEN",
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    names = ("host", "port", "profile", "data_dir", "collection", "chroma_host", "chroma_port")
    return Settings(**{name: value for name in names if (value := getattr(args, name)) is not None})


@dataclass(frozen=True)
class Access:
    """Who may use the app: a login for the page and a bearer token for the REST API (None: open)."""

    auth: tuple[str, str] | None = None
    api_token: str | None = None


def parse_auth(value: str) -> tuple[str, str]:
    user, colon, password = value.partition(":")
    if not (user and colon and password):
        raise ValueError("the page's login must look like USER:PASSWORD (--auth or FOLIO_AUTH)")
    return user, password


def access_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Access:
    """--auth or FOLIO_AUTH for the page, FOLIO_API_TOKEN for the REST API; ValueError when malformed."""
    auth = args.auth or environ.get("FOLIO_AUTH") or None
    return Access(auth=parse_auth(auth) if auth else None, api_token=environ.get("FOLIO_API_TOKEN") or None)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def exposure_problem(host: str, access: Access) -> str:
    """Why the app must not start on ``host`` with this access (empty when it may)."""
    missing = [
        *([] if access.auth else ["FOLIO_AUTH=user:password (or --auth) for the page"]),
        *([] if access.api_token else ["FOLIO_API_TOKEN=<a long random string> for the REST API"]),
    ]
    if is_loopback(host) or not missing:
        return ""
    return (
        f"refusing to serve on {host}: it is not a loopback address, so other machines could reach the app. "
        f"Set {' and '.join(missing)}, or bind 127.0.0.1 (the default)."
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    settings = settings_from(args)
    try:
        access = access_from(args, os.environ)
    except ValueError as error:
        return refuse(str(error))
    if problem := exposure_problem(settings.host, access):
        return refuse(problem)  # before loading any model: say so at once
    try:
        folio = Folio.open(settings)
        app = create_app(folio, auth=access.auth, api_token=access.api_token)
    except FolioError as error:
        return refuse(str(error))
    print(f"Folio ({folio.profile} profile, {folio.store.count()} books) on http://{settings.host}:{settings.port}")
    print(f"REST API docs at http://{settings.host}:{settings.port}/docs")
    if access.auth or access.api_token:
        guards = {"login for the page": access.auth, "bearer token for the REST API": access.api_token}
        print("; ".join(f"{name}: {'on' if value else 'off'}" for name, value in guards.items()))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def refuse(message: str) -> int:
    """Say why the app does not start (no traceback) and give the exit status for it."""
    print(f"folio: {message}", file=sys.stderr)
    return 2


def create_app(folio: Folio, auth: tuple[str, str] | None = None, api_token: str | None = None) -> FastAPI:
    """The REST API with the Gradio page mounted at /; ``auth`` guards the page, ``api_token`` the API."""
    api = create_api(folio, api_token=api_token)
    demo = build_ui(folio)
    app = gr.mount_gradio_app(
        api,
        demo,
        path="/",
        auth=auth,
        auth_message="Folio: log in to search the catalog." if auth else None,
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
    example_cover_alts: list[str] = field(default_factory=list)  # alt text for each example cover


def catalog_facts(folio: Folio) -> CatalogFacts:
    records = sorted(folio.store.iter_records(), key=lambda record: record.book_id)
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
        ("Genres", ", ".join(genres) or "—"),
    ]
    return "\n".join(f"- **{name}:** {value}" for name, value in lines)


# -- explaining a result -------------------------------------------------------------------------
@dataclass(frozen=True)
class Signal:
    group: str  # what a reader is told matched: "description", "title/author", "cover text" or "visual"
    measures: str
    threshold: float  # at or above this the signal counts as a match (signals live on different scales)


SIGNALS: dict[str, Signal] = {
    "title_match": Signal("title/author", "your words vs the title and author, word by word", 0.5),
    "title_search": Signal("title/author", "your words vs the title and author (fuzzy search)", 0.8),
    "text_vs_text": Signal("description", "your words vs the book's text (embeddings)", 0.4),
    "cross_encoder": Signal("description", "a cross-encoder reading your words with the book's text", 0.5),
    "ocr_title_match": Signal("cover text", "the text read on your cover vs the title and author", 0.5),
    "ocr_vs_text": Signal("cover text", "the text read on your cover vs the book's text", 0.5),
    "ocr_title_search": Signal("cover text", "the text read on your cover vs the title and author (fuzzy)", 0.8),
    "image_vs_cover": Signal("visual", "your picture vs the book's cover (embeddings)", 0.7),
    "perceptual": Signal("visual", "perceptual fingerprints of the two covers", 0.75),
    "text_vs_cover": Signal("visual", "your words vs the cover picture", 0.28),
    "image_vs_text": Signal("visual", "your picture vs the book's text", 0.28),
}
GROUP_ORDER = ("title/author", "cover text", "visual", "description")
STOPWORDS = frozenset(
    """a an and are as at be been but by for from had has have he her him his how i in into is it its me my no not of
    on one or our out over she so than that the their them then there they this to too two up was we were what when
    where which who whom why will with you your""".split()  # noqa: SIM905 -- a word list reads better as text
)
WORD = re.compile(r"\w+")


def signal_matched(name: str, value: float) -> bool:
    signal = SIGNALS.get(name)
    return signal is not None and value >= signal.threshold


def matched_groups(signals: dict[str, float]) -> list[str]:
    """The kinds of evidence that matched, e.g. ["cover text", "visual"]."""
    found = {SIGNALS[name].group for name, value in signals.items() if signal_matched(name, value)}
    return [group for group in GROUP_ORDER if group in found]


def badge(hit: Hit) -> str:
    return f"{round(hit.relevance * 100)}% match"


def query_words(*texts: str) -> frozenset[str]:
    """The words of a query worth highlighting: lower-cased, without the commonest English words."""
    return (
        frozenset(word for text in texts for word in (w.lower() for w in WORD.findall(text)) if len(word) > 1)
        - STOPWORDS
    )


def highlight(text: str, words: frozenset[str]) -> str:
    """``text`` as HTML, each of ``words`` in it wrapped in <mark>."""
    parts, end = [], 0
    for match in WORD.finditer(text):
        word = html.escape(match.group())
        parts += [
            html.escape(text[end : match.start()]),
            f"<mark>{word}</mark>" if match.group().lower() in words else word,
        ]
        end = match.end()
    parts.append(html.escape(text[end:]))
    return "".join(parts)


def shared_words(hit: Hit, words: frozenset[str]) -> list[str]:
    found = query_words(hit.title, hit.author, hit.description) & words
    return sorted(found)


# -- rendering a result ----------------------------------------------------------------------------
def byline(hit: Hit) -> str:
    return f"{hit.title}" + (f" — {hit.author}" if hit.author else "") + (f" ({hit.year})" if hit.year else "")


def caption(hit: Hit) -> str:
    """What a card says (and its cover's alt text): the book, how well it matches, and on what."""
    groups = matched_groups(hit.signals)
    return f"{byline(hit)} · {badge(hit)}" + (f" · {', '.join(groups)}" if groups else "")


def has_cover(hit: Hit) -> bool:
    """Whether the book has a cover to compare (ingest flags a blank one and stores no vector for it)."""
    return bool(hit.cover) and "blank-cover" not in hit.flags


def cover_alt(hit: Hit) -> str:
    return f"Cover of {hit.title}" + (f" by {hit.author}" if hit.author else "")


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


@lru_cache(maxsize=256)
def cover_src(cover: str) -> str:
    """The cover as an <img> source: a data: URL of the thumbnail (so it needs no other route), or its URL."""
    image = thumbnail(cover)
    if isinstance(image, str):
        return image
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def detail_html(hit: Hit, words: frozenset[str]) -> str:
    """The detail panel of one result: cover, metadata, description, scores and matching signals."""
    cover = f'<img src="{html.escape(cover_src(hit.cover))}" alt="{html.escape(cover_alt(hit))}">'
    parts = [
        f'<h2 id="folio-detail-title" tabindex="-1">{highlight(hit.title, words)}</h2>',
        f"<p>{byline_html(hit, words)}</p>",
        f"<p>{match_html(hit, words)}</p>",
        f'<p class="folio-description">{highlight(hit.description, words) or "No description."}</p>',
        book_facts_html(hit),
        scores_html(hit),
        signals_html(hit),
    ]
    body = "".join(parts)
    return f'<article class="folio-detail-card" aria-labelledby="folio-detail-title">{cover}<div>{body}</div></article>'


def byline_html(hit: Hit, words: frozenset[str]) -> str:
    facts = [html.escape(str(value)) for value in (hit.year, hit.genre) if value]
    return " · ".join([highlight(hit.author, words) or "Unknown author", *facts])


def match_html(hit: Hit, words: frozenset[str]) -> str:
    """The badge, the kinds of evidence that matched, and the query's words found in the book."""
    groups = matched_groups(hit.signals)
    text = f'<span class="folio-badge">{badge(hit)}</span> '
    text += f"matched on {', '.join(groups)}" if groups else "no single signal stands out"
    if shared := shared_words(hit, words):
        text += " · words that matched: " + ", ".join(f"<mark>{html.escape(word)}</mark>" for word in shared)
    return text


def book_facts_html(hit: Hit) -> str:
    rows = [("Catalog id", hit.book_id), ("ISBN", hit.isbn or "—")]
    if hit.flags:
        rows.append(("Notes", ", ".join(hit.flags)))
    return "<p>" + " · ".join(f"<strong>{name}:</strong> {html.escape(value)}" for name, value in rows) + "</p>"


def scores_html(hit: Hit) -> str:
    stage2 = "not cross-scored" if hit.stage2_score is None else f"{hit.stage2_score:.3f}"
    rows = [
        ("Relevance (absolute, 0–1)", f"{hit.relevance:.3f}"),
        ("Stage 1 score (rank)", f"{hit.stage1_score:.3f} (#{hit.stage1_rank})"),
        ("Stage 2 score", stage2),
    ]
    body = "".join(f"<tr><th scope='row'>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f"<div class='folio-scroll'><table><caption>Scores (rank {hit.rank})</caption>{body}</table></div>"


def signals_html(hit: Hit) -> str:
    """Each signal behind the scores: what it compares, its value, and whether it counts as a match."""
    head = "<tr><th scope='col'>Signal</th><th scope='col' class='folio-compares'>Compares</th>"
    head += "<th scope='col'>Value</th><th scope='col'>Match</th></tr>"
    rows = [head]
    for name, value in sorted(hit.signals.items(), key=lambda item: -item[1]):
        signal = SIGNALS.get(name)
        measures = signal.measures if signal else ""
        mark = "✓ matched" if signal_matched(name, value) else ""
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code></td><td class='folio-compares'>{html.escape(measures)}</td>"
            f"<td>{value:.2f}</td><td>{mark}</td></tr>"
        )
    return f"<div class='folio-scroll'><table><caption>Signals</caption>{''.join(rows)}</table></div>"


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


def status_line(result: SearchResult, what: str = "") -> str:
    mode = "cross-scored (stage 2)" if result.cross_scored else "stage 1 only"
    seconds = result.timings_ms.get("total", 0.0) / 1000
    count = len(result.hits)
    return (
        f"**{count} book{'s' if count != 1 else ''}**{what} from {result.candidates} candidates · {mode} · "
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
    try:
        result = folio.search(query.text, query.image, query.k, query.cross_score, query.min_score, query.filters)
    except BadImage as error:
        return page_outputs(f"**That image can't be used:** {error}. Try a JPEG or PNG photo of the cover.")
    except StoreUnavailable as error:
        return page_outputs(f"**The catalog cannot be reached right now:** {error}. Try again in a moment.")
    words = query_words(query.text, result.cover_text)
    if not result.hits:
        advice = no_hits_advice(folio.store.count(), query.filters, query.min_score)
        return page_outputs(f"### No results\n{advice}", result, words)
    return page_outputs(status_line(result), result, words)


def page_more_like(folio: Folio, book: Hit | None, by: str, query: Query) -> tuple[Any, ...]:
    """Books like ``book`` by its cover or description, within the page's filters (no relevance cut-off)."""
    if book is None:
        return page_outputs("Select a book in the results first.")
    title = f"*{md_escape(book.title)}*"
    try:
        result = folio.more_like(book.book_id, by, query.k, query.cross_score, 0.0, query.filters)
    except KeyError:
        return page_outputs(f"**{title} is no longer in the catalog.** Search again to refresh the results.")
    except ValueError:
        return page_outputs(f"**{title} has no cover to compare.** Try *More like this description*.")
    except StoreUnavailable as error:
        return page_outputs(f"**The catalog cannot be reached right now:** {error}. Try again in a moment.")
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


if __name__ == "__main__":
    sys.exit(main())
