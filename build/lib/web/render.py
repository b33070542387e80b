"""Rendering results for the page: card captions, thumbnails, the detail panel, the table and status lines."""

from __future__ import annotations

import base64
import html
import io
import re
from functools import lru_cache
from urllib.parse import quote

from PIL import Image

from multimodal import Hit, SearchResult
from multimodal.errors import BadImage
from multimodal.images import load_image
from web.explain import highlight, matched_groups, shared_words, signal_matched, signal_measures

THUMBNAIL = (320, 480)


def cover_url(book_id: str, cover: str, root_path: str = "") -> str | None:
    """Where the REST API serves a book's cover (None when it has none)."""
    return f"{root_path}/covers/{quote(book_id, safe='')}" if cover else None


TIER_WORDS = {"found": "Found", "likely": "Likely", "possible": "Possible"}
ISBN = re.compile(r"^(97[89])?\d{9}[\dX]$")


def badge(hit: Hit) -> str:
    """The one number a card shows: the tier in words and the confidence (they never rise down the list)."""
    return f"{TIER_WORDS.get(hit.tier, 'Possible')} · {round(hit.confidence * 100)}%"


def byline(hit: Hit) -> str:
    return f"{hit.title}" + (f" — {hit.author}" if hit.author else "") + (f" ({hit.year})" if hit.year else "")


def caption(hit: Hit) -> str:
    """What a card says (and its cover's alt text and screen-reader label): the book and how sure."""
    return f"{byline(hit)} · {badge(hit)}"


def has_cover(hit: Hit) -> bool:
    """Whether the book has a cover to compare (the core's one rule: ingest flags a blank or unreadable one)."""
    return hit.has_cover


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


def gallery_items(hits: list[Hit]) -> list[tuple[Image.Image | str, str]]:
    return [(thumbnail(hit.cover), caption(hit)) for hit in hits]


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
    """The detail panel of one result: cover, metadata, description; "Why this result?" and "Advanced" folded."""
    cover = f'<img src="{html.escape(cover_src(hit.cover))}" alt="{html.escape(cover_alt(hit))}">'
    parts = [
        f'<h2 id="folio-detail-title" tabindex="-1">{highlight(hit.title, words)}</h2>',
        f"<p>{byline_html(hit, words)}</p>",
        f'<p><span class="folio-badge folio-{html.escape(hit.tier or "possible")}">{badge(hit)}</span></p>',
        f'<p class="folio-description">{highlight(hit.description, words) or "No description."}</p>',
        book_facts_html(hit),
        f"<details class='folio-why'><summary>Why this result?</summary>{why_html(hit, words)}</details>",
        f"<details class='folio-advanced'><summary>Advanced: scores</summary>{scores_html(hit)}{signals_html(hit)}"
        "</details>",
    ]
    body = "".join(parts)
    return f'<article class="folio-detail-card" aria-labelledby="folio-detail-title">{cover}<div>{body}</div></article>'


def byline_html(hit: Hit, words: frozenset[str]) -> str:
    facts = [html.escape(str(value)) for value in (hit.year, hit.genre) if value]
    return " · ".join([highlight(hit.author, words) or "Unknown author", *facts])


def why_html(hit: Hit, words: frozenset[str]) -> str:
    """In plain words: the kinds of evidence that matched, the shared words, and each signal that matched."""
    groups = matched_groups(hit.signals)
    text = f"<p>It matched on {html.escape(', '.join(groups))}." if groups else "<p>No single signal stands out."
    if shared := shared_words(hit, words):
        text += " Words that matched: " + ", ".join(f"<mark>{html.escape(word)}</mark>" for word in shared) + "."
    matched = [signal_measures(name) for name, value in hit.signals.items() if signal_matched(name, value)]
    items = "".join(f"<li>{html.escape(measures)}: a match</li>" for measures in matched if measures)
    return text + "</p>" + (f"<ul>{items}</ul>" if items else "")


def isbn_html(isbn: str) -> str:
    """The ISBN, linked to its Open Library page when it is a well-formed ISBN-10 or -13."""
    digits = isbn.replace("-", "").replace(" ", "").upper()
    if not ISBN.match(digits):
        return html.escape(isbn or "—")
    return f'<a href="https://openlibrary.org/isbn/{digits}" target="_blank" rel="noopener noreferrer">{digits}</a>'


def book_facts_html(hit: Hit) -> str:
    rows = [("Catalog id", html.escape(hit.book_id)), ("ISBN", isbn_html(hit.isbn))]
    if hit.flags:
        rows.append(("Notes", html.escape(", ".join(hit.flags))))
    return "<p>" + " · ".join(f"<strong>{name}:</strong> {value}" for name, value in rows) + "</p>"


def scores_html(hit: Hit) -> str:
    stage2 = "not cross-scored" if hit.stage2_score is None else f"{hit.stage2_score:.3f}"
    rows = [
        ("Confidence", f"{hit.confidence:.3f} ({html.escape(hit.tier)})"),
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
        mark = "✓ matched" if signal_matched(name, value) else ""
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code></td>"
            f"<td class='folio-compares'>{html.escape(signal_measures(name))}</td>"
            f"<td>{value:.2f}</td><td>{mark}</td></tr>"
        )
    return f"<div class='folio-scroll'><table><caption>Signals</caption>{''.join(rows)}</table></div>"


MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:/=])")


def md_escape(text: str) -> str:
    """Catalog text as literal Markdown: HTML escaped to entities, every Markdown sign (and the ``:``/``/``
    of a bare URL, which would become a link) backslash-escaped. Catalog text is data, never markup."""
    return html.escape(MARKDOWN_PUNCTUATION.sub(r"\\\1", text), quote=False)


def results_table(hits: list[Hit]) -> str:
    """Every hit's scores, for the "Advanced" section (hidden on narrow screens)."""
    if not hits:
        return ""
    lines = [
        "| # | Book | Genre | Relevance | Stage 1 (rank) | Stage 2 | Signals |",
        "|---:|---|---|---|---|---|---|",
    ]
    for hit in hits:
        stage2 = "—" if hit.stage2_score is None else f"**{hit.stage2_score:.3f}**"
        signals = " · ".join(f"`{name}` {value:.2f}" for name, value in hit.signals.items())
        lines.append(
            f"| {hit.rank} | {md_escape(byline(hit))} | {md_escape(hit.genre) or '—'} | {hit.relevance:.2f} | "
            f"{hit.stage1_score:.3f} (#{hit.stage1_rank}) | {stage2} | {signals} |"
        )
    return "\n".join(lines)


def result_header(result: SearchResult, what: str = "") -> str:
    """The line above the results: "Found: *Title*", "Not in this catalog — the closest books:", or a count."""
    count = len(result.hits)
    books = f"{count} book{'s' if count != 1 else ''}"
    if what:
        return f"### {books} {what}"
    if result.verdict == "found":
        first = result.hits[0]
        return f"### Found: *{md_escape(first.title)}*" + (f" — {md_escape(first.author)}" if first.author else "")
    if result.verdict == "not_in_catalog":
        return "### Not in this catalog — the closest books:"
    return f"### {books} that match"


def search_facts(result: SearchResult) -> str:
    """How the search ran, for the "Advanced" section."""
    mode = "cross-scored (stage 2)" if result.cross_scored else "stage 1 only"
    seconds = result.timings_ms.get("total", 0.0) / 1000
    books = f"{len(result.hits)} books from {result.candidates} candidates"
    return f"{books} · {mode} · {result.profile} profile · {seconds:.2f} s"


def timings_table(result: SearchResult) -> str:
    rows = "\n".join(f"| {stage} | {ms:,.1f} |" for stage, ms in result.timings_ms.items())
    return "| Stage | ms |\n|---|---:|\n" + rows
