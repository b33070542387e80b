"""The search page in a real browser: Playwright (sync API) driving Debian's Chromium.

The app (create_app on the ``offline_folio`` fixture) is served on a loopback port; each test opens
the page in a fresh browser context and fails on any console error or uncaught page error.

Screenshots go to a temporary folder, or to ``$FOLIO_SCREENSHOT_DIR`` when it is set (that is how
docs/screenshot.png and docs/screenshot-phone.png are made).

Needs /usr/bin/chromium (``apt-get install -y chromium``) and the ``playwright`` package
(scripts/install-browser.sh installs both); the module is skipped without them. Playwright's own
browser downloads are never used.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: run scripts/install-browser.sh", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: scripts/install-browser.sh")

from playwright.sync_api import Browser, ConsoleMessage, Error, Locator, Page, expect  # noqa: E402
from test_app import serve  # noqa: E402

from multimodal.folio import Folio  # noqa: E402
from web.server import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COVERS = ROOT / "assets" / "sample" / "covers"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
WAIT_MS = 60_000  # a search on a loaded 2-core machine can take seconds; never this long
# Console messages of type "error" that say nothing about the app. None are needed so far: each
# entry must say why it is harmless.
BENIGN_CONSOLE_ERRORS: list[re.Pattern[str]] = []


@dataclass
class Tab:
    """A page of the app in its own browser context, and the errors its console reported."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(pattern.search(message.text) for pattern in BENIGN_CONSOLE_ERRORS):
            self.errors.append(f"console: {message.text}")

    def record_page_error(self, error: Error) -> None:
        self.errors.append(f"page error: {error}")


@pytest.fixture(scope="module")
def books(sample_catalog: Path) -> dict[str, dict[str, str]]:
    with sample_catalog.open() as stream:
        return {row["id"]: row for row in csv.DictReader(stream)}


@pytest.fixture(scope="module")
def base_url(offline_folio: Folio) -> Iterator[str]:
    with serve(create_app(offline_folio)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=WAIT_MS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("FOLIO_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser: Browser, base_url: str, viewport: dict[str, int]) -> Iterator[Tab]:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(WAIT_MS)
    tab = Tab(context.new_page())
    tab.page.on("console", tab.record)
    tab.page.on("pageerror", tab.record_page_error)
    tab.page.goto(base_url, timeout=WAIT_MS)
    expect(words(tab.page)).to_be_visible(timeout=WAIT_MS)
    yield tab
    context.close()


@pytest.fixture
def tab(browser: Browser, base_url: str) -> Iterator[Tab]:
    yield from open_page(browser, base_url, DESKTOP)


@pytest.fixture
def phone(browser: Browser, base_url: str) -> Iterator[Tab]:
    yield from open_page(browser, base_url, PHONE)


# -- what the tests look at ------------------------------------------------------------------------
def words(page: Page) -> Locator:
    return page.get_by_label("Words")


def status(page: Page) -> Locator:
    return page.locator("#folio-status")


def cards(page: Page) -> Locator:
    """The covers in the results gallery; each one's alt text is its caption."""
    return page.locator("#folio-gallery .thumbnail-item img")


def detail(page: Page) -> Locator:
    return page.locator("#folio-detail")


def search_words(page: Page, text: str) -> None:
    words(page).fill(text)
    words(page).press("Enter")


def first_card_is(page: Page, title: str) -> None:
    expect(cards(page).first).to_have_attribute("alt", re.compile("^" + re.escape(title) + " — "), timeout=WAIT_MS)


def assert_no_console_errors(tab: Tab) -> None:
    assert tab.errors == [], "\n".join(tab.errors)


# -- the tests -------------------------------------------------------------------------------------
def test_uploading_a_cover_finds_its_book(tab: Tab, books, screenshots: Path) -> None:
    tab.page.locator("#folio-cover input[type=file]").set_input_files(COVERS / "sample-020.png")
    first_card_is(tab.page, books["sample-020"]["title"])
    expect(status(tab.page)).to_contain_text("cross-scored")
    expect(cards(tab.page).first).to_have_attribute("alt", re.compile(r"\d+% match · .*cover text"))
    cards(tab.page).first.click()
    expect(detail(tab.page)).to_contain_text("matched on cover text, visual")
    expect(tab.page.locator("#folio-cover img")).to_have_attribute("alt", "The cover image you gave")
    unlabelled = tab.page.locator("img:not([alt]), img[alt='']")
    expect(unlabelled).to_have_count(0)  # every image says what it shows
    tab.page.screenshot(path=screenshots / "cover-upload.png", full_page=True)
    assert_no_console_errors(tab)


def test_words_and_enter_search(tab: Tab, books, screenshots: Path) -> None:
    search_words(tab.page, books["sample-012"]["title"])
    first_card_is(tab.page, books["sample-012"]["title"])
    expect(cards(tab.page).first).to_have_attribute("alt", re.compile(r"\d+% match · title/author"))
    tab.page.screenshot(path=screenshots / "words.png", full_page=True)
    assert_no_console_errors(tab)


def test_a_genre_filter_keeps_only_that_genre(tab: Tab) -> None:
    genres = tab.page.locator(".folio-table tbody tr td:nth-child(3)")
    search_words(tab.page, "the sea")
    expect(genres.first).to_be_visible(timeout=WAIT_MS)
    assert len(set(genres.all_inner_texts())) > 1, "the query should find books of several genres"
    tab.page.get_by_label("Genre").click()
    tab.page.get_by_role("option", name="travel", exact=True).click()  # choosing a genre re-runs the search
    only_travel = """() => {
      const cells = [...document.querySelectorAll('.folio-table tbody tr td:nth-child(3)')];
      return cells.length > 0 && cells.every(cell => cell.innerText.trim() === 'travel');
    }"""
    tab.page.wait_for_function(only_travel, timeout=WAIT_MS)
    assert_no_console_errors(tab)


def test_the_detail_view_explains_a_result_and_finds_more_like_its_cover(tab: Tab, books, screenshots: Path) -> None:
    book = books["sample-017"]
    search_words(tab.page, "dragon")
    first_card_is(tab.page, book["title"])
    cards(tab.page).first.click()
    panel = detail(tab.page)
    expect(panel.get_by_role("heading", name=book["title"])).to_be_visible()
    expect(panel.locator("mark").first).to_have_text(re.compile("dragon", re.IGNORECASE))
    expect(panel.locator("img")).to_have_attribute("alt", f"Cover of {book['title']} by {book['author']}")
    expect(panel).to_contain_text("% match")
    expect(panel).to_contain_text("Stage 2 score")
    expect(panel).to_contain_text(book["description"][:40])
    tab.page.screenshot(path=screenshots / "detail.png", full_page=True)

    panel.get_by_role("button", name="More like this cover").click()
    expect(status(tab.page)).to_contain_text(f"like {book['title']} by its cover")
    expect(cards(tab.page).first).not_to_have_attribute("alt", re.compile("^" + re.escape(book["title"])))
    alts = [card.get_attribute("alt") or "" for card in cards(tab.page).all()]
    assert alts and not any(alt.startswith(book["title"]) for alt in alts)
    assert any("visual" in alt for alt in alts)
    tab.page.screenshot(path=screenshots / "more-like-cover.png", full_page=True)
    assert_no_console_errors(tab)


def test_the_keyboard_alone_searches_opens_a_card_and_runs_more_like(tab: Tab, books) -> None:
    page = tab.page
    words(page).focus()
    page.keyboard.type(books["sample-033"]["title"])
    page.keyboard.press("Enter")
    first_card_is(page, books["sample-033"]["title"])
    tab_to(page, "thumbnail-item")
    page.keyboard.press("Enter")
    expect(detail(page).get_by_role("heading", name=books["sample-033"]["title"])).to_be_focused()
    tab_to(page, text="More like this description")
    page.keyboard.press("Enter")
    expect(status(page)).to_contain_text("by its description")
    assert_no_console_errors(tab)


def tab_to(page: Page, css_class: str = "", text: str = "", presses: int = 80) -> None:
    """Press Tab until the focused element has ``css_class`` or shows ``text``."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => [document.activeElement.className, document.activeElement.innerText]")
        if (css_class and css_class in str(focused[0])) or (text and text == str(focused[1]).strip()):
            return
    pytest.fail(f"Tab never reached {css_class or text!r}")


def test_an_unusable_upload_gets_a_reason(tab: Tab, tmp_path: Path) -> None:
    not_a_cover = tmp_path / "cover.png"
    not_a_cover.write_bytes(b"%PDF-1.4 this is not a cover")
    tab.page.locator("#folio-cover input[type=file]").set_input_files(not_a_cover)
    expect(status(tab.page)).to_contain_text("That image can't be used: not an image")
    notes = tmp_path / "notes.txt"
    notes.write_text("a shopping list")
    tab.page.locator("#folio-cover input[type=file]").set_input_files(notes)
    expect(tab.page.get_by_text("Invalid file type")).to_be_visible()  # the browser refuses it before upload
    assert_no_console_errors(tab)


def test_the_page_works_at_phone_width(phone: Tab, screenshots: Path) -> None:
    page = phone.page
    search_words(page, "lighthouse")
    expect(cards(page).first).to_be_visible()
    assert page_width(page) <= PHONE["width"], "the page is wider than the phone"
    grid = "getComputedStyle(document.querySelector('#folio-gallery .grid-container')).gridTemplateColumns"
    assert len(page.evaluate(f"() => {grid}").split()) == 2, "two cards a row"
    cards(page).first.click()
    expect(detail(page).get_by_role("heading").first).to_be_focused()
    assert page_width(page) <= PHONE["width"], "the detail panel is wider than the phone"
    page.screenshot(path=screenshots / "phone.png", full_page=True)
    assert_no_console_errors(phone)


def page_width(page: Page) -> int:
    """How wide the page's content is (Gradio's container clips overflow, so it is measured too)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.querySelector('.gradio-container').scrollWidth)"
    )


# -- catalog text is data (issue 14, item 3) -------------------------------------------------------
REMOTE = "127.0.0.2"  # a host the page must never make a reader's browser contact
HOSTILE_BOOKS = [
    {
        "id": "svg-link",
        "title": "Lighthouse four <svg><a href=\"javascript:document.title='PWNED'\"><text y='20'>tap</text></a></svg>",
        "author": "<a href=\"javascript:document.title='PWNED'\">Evil Author</a>",
        "description": '<img src=x onerror="window.__pwned=1"> the lighthouse <script>window.__pwned=2</script>',
        "genre": "mystery",
    },
    {
        "id": "markdown",
        "title": f"Lighthouse ![x](http://{REMOTE}/x.png) keeper",
        "author": f"[Mallory](javascript:document.title='PWNED') <http://{REMOTE}/auto>",
        "description": f"The lighthouse keeper. Read more [here](http://{REMOTE}/phish) or www.{REMOTE}.example",
        "genre": "mystery",
    },
    {
        "id": "genre",
        "title": "The Lighthouse *Keeper* | of _Storms_",
        "author": "Ann `Code` Author",
        "description": "A plain book about a lighthouse.",
        "genre": f"poetry<img src=http://{REMOTE}/g.png onerror=window.__pwned=3>",
    },
]


@pytest.fixture(scope="module")
def hostile_url(offline_folio: Folio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a catalog whose titles, authors, descriptions and genres are HTML, Markdown and links."""
    import shutil

    from ingest.job import IngestJob, IngestOptions
    from multimodal.service import open_search
    from multimodal.settings import Settings
    from multimodal.store import BookStore

    folder = tmp_path_factory.mktemp("hostile")
    rows = []
    for number, book in enumerate(HOSTILE_BOOKS, start=1):
        shutil.copy(COVERS / f"sample-00{number}.png", folder / f"{book['id']}.png")
        rows.append({**book, "year": str(2000 + number), "cover": f"{book['id']}.png"})
    with (folder / "catalog.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    settings = Settings(profile="offline", data_dir=folder / "store")
    models = offline_folio.models
    store = BookStore(settings, models.profile.name, models.identity)
    options = IngestOptions(catalog=folder / "catalog.csv", progress=False, cache_dir=folder / "cache")
    assert IngestJob(models, store, options).run().ingested == len(HOSTILE_BOOKS)
    with serve(create_app(open_search(settings, models=models))) as url:
        yield url


def test_catalog_text_is_shown_as_text_never_run_or_fetched(browser: Browser, hostile_url: str) -> None:
    """Hostile titles, authors, descriptions and genres: no script runs, nothing remote is fetched, the
    text shows literally, and no javascript: link exists, in the results, the detail and the catalog."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(WAIT_MS)
    remote: list[str] = []

    def guard(route) -> None:
        if route.request.url.startswith(hostile_url) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(hostile_url)
    search_words(page, "lighthouse")
    expect(cards(page)).to_have_count(len(HOSTILE_BOOKS))
    for index in range(len(HOSTILE_BOOKS)):
        cards(page).nth(index).click()
        expect(detail(page).get_by_role("heading").first).to_be_visible()
        page.wait_for_timeout(200)
    expect(page.get_by_text(f"![x](http://{REMOTE}/x.png)").first).to_be_attached()
    expect(page.get_by_text("Lighthouse four <svg>").first).to_be_attached()
    page.get_by_role("tab", name="Catalog").click()
    page.wait_for_timeout(500)
    page.get_by_role("tab", name="Search").click()
    for link in page.locator("a").all():
        href = (link.get_attribute("href") or "").strip().lower()
        assert not href.startswith("javascript:"), link.evaluate("a => a.outerHTML")
        assert REMOTE not in href, link.evaluate("a => a.outerHTML")
    assert page.locator("svg a, svg text").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert page.title() != "PWNED" and dialogs == []
    assert not [url for url in remote if REMOTE in url], remote
    context.close()
