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
PHONE = {"width": 390, "height": 844}
WAIT_MS = 60_000  # a search on a loaded 2-core machine can take seconds; never this long
# Console messages of type "error" that say nothing about the app. None are needed so far: each
# entry must say why it is harmless.
BENIGN_CONSOLE_ERRORS: list[re.Pattern[str]] = []
expect.set_options(timeout=WAIT_MS)


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
    """The covers of every result card (best, then possible matches); each one's alt text is its caption."""
    return page.locator(".folio-gallery .thumbnail-item img")


def detail(page: Page) -> Locator:
    return page.locator("#folio-detail")


def filters(page: Page) -> Locator:
    return page.locator("#folio-filters")


def search_words(page: Page, text: str) -> None:
    words(page).fill(text)
    words(page).press("Enter")


def upload(page: Page, path: Path) -> None:
    page.locator("#folio-cover input[type=file]").set_input_files(path)


def first_card_is(page: Page, title: str) -> None:
    expect(cards(page).first).to_have_attribute("alt", re.compile("^" + re.escape(title) + " — "), timeout=WAIT_MS)


def choose(page: Page, scope: Locator, label: str, option: str) -> None:
    scope.get_by_label(label).click()
    page.get_by_role("option", name=option, exact=True).click()


def open_filters(page: Page) -> None:
    if not filters(page).get_by_label("Author").is_visible():
        filters(page).get_by_role("button", name=re.compile("Filters")).first.click()
    expect(filters(page).get_by_label("Author")).to_be_visible()


def assert_no_console_errors(tab: Tab) -> None:
    assert tab.errors == [], "\n".join(tab.errors)


def made_up_cover(path: Path) -> Path:
    """A cover of a book that is not in the catalog: a colour gradient with a title and an author."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 450))
    draw = ImageDraw.Draw(image)
    for y in range(450):
        draw.line([(0, y), (300, y)], fill=(255 - y // 3, 130, y // 2))
    draw.text((40, 100), "THE QUIET ORCHARD 1", fill="white")
    draw.text((40, 300), "MARA VELLIN", fill="white")
    image.save(path)
    return path


# -- the tests -------------------------------------------------------------------------------------
def test_a_cover_is_found_or_said_not_in_the_catalog_and_the_detail_follows(
    tab: Tab, books, screenshots: Path, tmp_path: Path
) -> None:
    page = tab.page
    upload(page, made_up_cover(tmp_path / "made-up.png"))
    expect(status(page)).to_contain_text("Not in this catalog — the closest books:")
    assert cards(page).count() > 0  # never an empty page when something ranked

    book = books["sample-020"]
    upload(page, COVERS / "sample-020.png")
    expect(status(page)).to_contain_text(f"Found: {book['title']}")
    first_card_is(page, book["title"])
    expect(cards(page).first).to_have_attribute("alt", re.compile(r" · Found · \d{1,3}%$"))  # one number
    expect(page.locator("#folio-gallery .thumbnail-item").first).to_have_attribute(
        "aria-label", re.compile("^" + re.escape(book["title"]))
    )  # a screen reader hears the book, not "Thumbnail 1 of 1"
    expect(page.locator("#folio-divider")).to_be_visible()  # the possible matches below a divider
    cards(page).first.click()
    panel = detail(page)
    expect(panel.get_by_role("heading", name=book["title"])).to_be_focused()
    expect(panel.locator("details.folio-why")).not_to_have_attribute("open", "")
    panel.get_by_text("Why this result?").click()
    expect(panel.locator("details.folio-why")).to_contain_text("It matched on cover text, visual")
    expect(page.locator("#folio-cover img")).to_have_attribute("alt", "The cover image you gave")
    expect(page.locator("img:not([alt]), img[alt='']")).to_have_count(0)  # every image says what it shows
    page.screenshot(path=screenshots / "cover-upload.png", full_page=True)

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    cards(page).first.click()
    expect(panel).to_be_visible()
    panel.get_by_role("button", name="More like this cover").click()
    expect(status(page)).to_contain_text(f"like {book['title']} by its cover")
    expect(panel).to_be_hidden()  # the old book's panel does not stay open under the new results
    alts = [card.get_attribute("alt") or "" for card in cards(page).all()]
    assert alts and not any(alt.startswith(book["title"]) for alt in alts)
    cards(page).first.click()
    expect(panel.get_by_role("heading").first).to_have_text(alts[0].split(" — ")[0])  # the panel follows
    panel.get_by_role("button", name=re.compile("Back to my results")).click()
    expect(panel).to_be_hidden()
    assert_no_console_errors(tab)


def test_topic_filters_sort_load_more_and_clear(tab: Tab, books, screenshots: Path) -> None:
    page = tab.page
    search_words(page, "murder mystery")
    expect(cards(page)).to_have_count(10)  # a topic query shows ranked books, no cut-off on the page
    expect(status(page)).to_contain_text("the closest books")

    open_filters(page)
    choose(page, filters(page), "Genre", "mystery")  # a filter change runs the search again
    expect(page.locator("#folio-chips")).to_contain_text("genre: mystery")
    cards(page).first.click()
    expect(detail(page)).to_contain_text("mystery")
    page.keyboard.press("Escape")

    choose(page, filters(page), "Sort by", "Year (newest first)")
    expect(page.locator("#folio-chips")).to_contain_text("sorted by year")
    years = [
        int(match.group(1))
        for alt in cards(page).all()
        if (match := re.search(r"\((\d{4})\)", alt.get_attribute("alt") or ""))
    ]
    assert years and years == sorted(years, reverse=True), years

    choose(page, filters(page), "Genre", "Any genre")
    expect(page.locator("#folio-chips")).not_to_contain_text("genre")
    expect(cards(page)).to_have_count(10)
    page.get_by_role("button", name="Show more books").click()
    expect(cards(page)).to_have_count(20)

    filters(page).get_by_label("Published from (year)").fill("2010")
    filters(page).get_by_label("Published to (year)").fill("1990")
    filters(page).get_by_label("Published to (year)").press("Enter")
    expect(status(page)).to_contain_text("reversed")  # said plainly, not ignored

    filters(page).get_by_label("Author").fill(books["sample-017"]["author"].lower())
    page.get_by_role("button", name="Clear").click()
    expect(status(page)).to_contain_text("Type a few words")
    expect(cards(page)).to_have_count(0)
    expect(words(page)).to_have_value("")
    expect(filters(page).get_by_label("Author")).to_have_value("")
    expect(filters(page).get_by_label("Published from (year)")).to_have_value("")
    expect(filters(page).get_by_label("Genre")).to_have_value("Any genre")
    expect(filters(page).get_by_label("Sort by")).to_have_value("Best match")
    expect(page.locator("#folio-chips")).not_to_contain_text("Active filters")
    assert_no_console_errors(tab)


def test_the_keyboard_alone_searches_opens_a_card_and_runs_more_like(tab: Tab, books) -> None:
    page = tab.page
    words(page).focus()
    page.keyboard.type(books["sample-033"]["title"])
    page.keyboard.press("Enter")
    first_card_is(page, books["sample-033"]["title"])
    presses = tab_to(page, "thumbnail-item")
    assert presses <= 12, f"{presses} Tab presses from the words to the first result"
    page.keyboard.press("Enter")
    expect(detail(page).get_by_role("heading", name=books["sample-033"]["title"])).to_be_focused()
    tab_to(page, text="More like this description")
    page.keyboard.press("Enter")
    expect(status(page)).to_contain_text("by its description")
    assert_no_console_errors(tab)


def tab_to(page: Page, css_class: str = "", text: str = "", presses: int = 80) -> int:
    """Press Tab until the focused element has ``css_class`` or shows ``text``; returns how many presses."""
    for count in range(1, presses + 1):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => [document.activeElement.className, document.activeElement.innerText]")
        if (css_class and css_class in str(focused[0])) or (text and text == str(focused[1]).strip()):
            return count
    pytest.fail(f"Tab never reached {css_class or text!r}")


def test_an_unusable_upload_gets_a_reason(tab: Tab, tmp_path: Path) -> None:
    not_a_cover = tmp_path / "cover.png"
    not_a_cover.write_bytes(b"%PDF-1.4 this is not a cover")
    upload(tab.page, not_a_cover)
    expect(status(tab.page)).to_contain_text("That image can't be used: not an image")
    notes = tmp_path / "notes.txt"
    notes.write_text("a shopping list")
    upload(tab.page, notes)
    expect(tab.page.get_by_text("Invalid file type")).to_be_visible()  # the browser refuses it before upload
    assert_no_console_errors(tab)


def test_the_catalog_tab_lists_books(tab: Tab, books) -> None:
    page = tab.page
    page.get_by_role("tab", name="Catalog").click()
    listing = page.locator("#folio-catalog")
    expect(listing.locator("li.folio-book")).to_have_count(24)
    expect(listing).to_contain_text("64 books · page 1 of 3")
    expect(page.locator("#folio-genre-counts")).to_contain_text(re.compile(r"fantasy \(\d+\)"))
    page.get_by_role("button", name="Next page →").click()
    expect(listing).to_contain_text("page 2 of 3")
    page.get_by_label("Find in the catalog").fill(books["sample-017"]["title"][4:16])
    expect(listing).to_contain_text("1 book · page 1 of 1")
    expect(listing.locator("img")).to_have_attribute(
        "alt", f"Cover of {books['sample-017']['title']} by {books['sample-017']['author']}"
    )
    assert_no_console_errors(tab)


def test_the_page_works_at_phone_width(phone: Tab, screenshots: Path) -> None:
    page = phone.page
    cover = page.locator("#folio-cover").bounding_box()
    assert cover and cover["y"] + 120 < PHONE["height"], f"the cover input starts at {cover}: below the first screen"
    assert words(page).bounding_box()["y"] < PHONE["height"] / 2
    assert not filters(page).get_by_label("Author").is_visible()  # filters start folded
    page.screenshot(path=screenshots / "phone-start.png")
    search_words(page, "lighthouse")
    expect(cards(page).first).to_be_visible()
    page.wait_for_function(
        "() => { const top = document.querySelector('#folio-status').getBoundingClientRect().top;"
        " return top >= 0 && top < window.innerHeight / 2; }"
    )  # the results were scrolled into view
    assert page_width(page) <= PHONE["width"], "the page is wider than the phone"
    grid = "getComputedStyle(document.querySelector('#folio-gallery .grid-container')).gridTemplateColumns"
    assert len(page.evaluate(f"() => {grid}").split()) == 2, "two cards a row"
    assert page.locator(".folio-table table").count() == 0 or not page.locator(".folio-table").first.is_visible()
    page.screenshot(path=screenshots / "phone.png")
    cards(page).first.click()
    expect(detail(page).get_by_role("heading").first).to_be_focused()
    assert page_width(page) <= PHONE["width"], "the detail panel is wider than the phone"
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
