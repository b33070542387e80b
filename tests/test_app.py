"""The web app end to end: the real app (REST API + Gradio page) served by uvicorn on a free port.

The server runs in a thread of the test process on the ``offline_folio`` fixture (the sample
catalog ingested with the offline profile), so models are loaded once per session.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import chromadb
import gradio as gr
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from gradio.components.image import ImageData
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app as folio_app
from ingest.job import IngestJob, IngestOptions
from multimodal import service
from multimodal.errors import StoreUnavailable
from multimodal.folio import Folio
from multimodal.service import LoadedModels, open_search
from multimodal.settings import Settings
from multimodal.store import BookStore
from web import access, catalog, explain, handlers, page, render, server
from web import throttle as throttle_module
from web.api import EMPTY_QUERY, create_api
from web.queries import EMPTY_CATALOG

ROOT = Path(__file__).resolve().parent.parent
COVERS = ROOT / "assets" / "sample" / "covers"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STRONG_TOKEN = "Zq3v9-Lk2pW7xR0tYb8NcE4mHs6JdA1uGf5oKiTy"  # 40 characters, ~200 bits by their statistics
STRONG_PASSWORD = "violet-Harbor-93-quill-Ferns"


def sample_books(catalog: Path) -> dict[str, dict[str, str]]:
    with catalog.open() as stream:
        return {row["id"]: row for row in csv.DictReader(stream)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def books(sample_catalog: Path) -> dict[str, dict[str, str]]:
    return sample_books(sample_catalog)


@contextmanager
def serve(app: FastAPI, timeout: float = 60) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def base_url(offline_folio: Folio) -> Iterator[str]:
    """The real app (create_app) served by uvicorn in a thread; stopped when the module is done."""
    with serve(server.create_app(offline_folio)) as url:
        yield url


@pytest.fixture(scope="module")
def coverless_folio(offline_folio: Folio, tmp_path_factory: pytest.TempPathFactory) -> Folio:
    """A two-book catalog, one with a blank cover (kept, but without a cover vector), ingested with the
    session's offline models."""
    folder = tmp_path_factory.mktemp("coverless")
    shutil.copy(COVERS / "sample-001.png", folder / "covered.png")
    Image.new("RGB", (300, 450), "white").save(folder / "blank.png")
    catalog = folder / "catalog.csv"
    catalog.write_text(
        "id,title,author,year,genre,description,cover\n"
        "no-cover,The Uncovered Book,Ann Onymous,2001,mystery,A book that was never given a cover.,blank.png\n"
        "covered,A Covered Book,Ann Onymous,2002,mystery,A book with a cover.,covered.png\n"
    )
    settings = Settings(profile="offline", data_dir=folder / "store")
    models = offline_folio.models
    store = BookStore(settings, models.profile.name, models.identity)
    options = IngestOptions(catalog=catalog, progress=False, cache_dir=folder / "cache")
    assert IngestJob(models, store, options).run().ingested == 2
    return open_search(settings, models=models)


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def gradio(base_url: str) -> Client:
    return Client(base_url, verbose=False)


# -- the Gradio API (gradio_client) ------------------------------------------------------------
def test_gradio_client_finds_a_book_by_its_title(gradio: Client, books) -> None:
    result = gradio.predict(books["sample-012"]["title"], None, 5, True, api_name="/search")
    first = result["hits"][0]
    assert first["book_id"] == "sample-012"
    assert first["cover_url"] == "/covers/sample-012"
    assert isinstance(first["score"], float) and isinstance(first["stage2_score"], float)
    assert result["cross_scored"] is True and result["profile"] == "offline"


def test_gradio_client_finds_a_book_by_its_cover(gradio: Client) -> None:
    result = gradio.predict("", handle_file(str(COVERS / "sample-020.png")), 3, False, api_name="/search")
    assert result["hits"][0]["book_id"] == "sample-020"
    assert result["cross_scored"] is False and result["hits"][0]["stage2_score"] is None
    assert "CALDER" in result["cover_text"].upper()


def test_gradio_client_gets_reasons_for_bad_queries(gradio: Client) -> None:
    with pytest.raises(AppError, match="not an image"):
        gradio.predict("", handle_file(str(ROOT / "pyproject.toml")), 3, True, api_name="/search")
    with pytest.raises(AppError, match="Give some words"):
        gradio.predict("", None, 3, True, api_name="/search")


def test_gradio_api_refuses_files_that_were_not_uploaded(http: httpx.Client) -> None:
    """A client must not make the app read a server file by naming its path."""
    payload = {"path": str(COVERS / "sample-001.png"), "meta": {"_type": "gradio.FileData"}}
    event = http.post("/gradio_api/call/search", json={"data": ["", payload, 3, False]}).json()["event_id"]
    stream = http.get(f"/gradio_api/call/search/{event}").text
    assert "event: error" in stream and "not uploaded" in stream


def test_the_page_is_served(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200 and "<html" in response.text.lower()


# -- REST: search -------------------------------------------------------------------------------
def test_rest_search_by_words(http: httpx.Client, books) -> None:
    response = http.get("/api/search", params={"q": books["sample-003"]["title"], "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert [hit["rank"] for hit in body["hits"]] == [1, 2, 3]
    first = body["hits"][0]
    assert first["id"] == "sample-003" and first["cover_url"] == "/covers/sample-003"
    assert first["stage2_score"] is not None and first["signals"]["title_match"] > 0.9
    assert body["timings_ms"]["total"] > 0 and body["message"] == ""


def test_rest_search_without_stage_two_and_with_filters(http: httpx.Client) -> None:
    response = http.get(
        "/api/search", params={"q": "dragon", "genre": "fantasy", "year_min": 1900, "cross_score": "false"}
    )
    body = response.json()
    assert response.status_code == 200 and body["hits"] and body["cross_scored"] is False
    assert all(hit["genre"] == "fantasy" and hit["stage2_score"] is None for hit in body["hits"])


def test_rest_search_by_cover_upload(http: httpx.Client) -> None:
    with (COVERS / "sample-033.png").open("rb") as cover:
        response = http.post("/api/search", files={"image": ("photo.png", cover, "image/png")}, data={"k": "3"})
    assert response.status_code == 200
    assert response.json()["hits"][0]["id"] == "sample-033"


def test_rest_search_by_words_and_cover(http: httpx.Client, books) -> None:
    with (COVERS / "sample-040.png").open("rb") as cover:
        response = http.post("/api/search", files={"image": cover}, data={"q": books["sample-040"]["author"], "k": "2"})
    hits = response.json()["hits"]
    assert hits[0]["id"] == "sample-040" and "ocr_title_match" in hits[0]["signals"]


def test_rest_search_says_why_nothing_was_found(http: httpx.Client) -> None:
    body = http.get("/api/search", params={"q": "quantum zeppelin", "min_score": 1}).json()
    assert body["hits"] == [] and "minimum relevance (min_score, now 1.00)" in body["message"]
    assert body["verdict"] == "empty" and "photo" not in body["message"]


def test_rest_genre_and_author_match_in_any_case_or_get_the_valid_values(http: httpx.Client, books) -> None:
    body = http.get("/api/search", params={"q": "dragon", "genre": "FANTASY"}).json()
    assert body["hits"] and {hit["genre"] for hit in body["hits"]} == {"fantasy"}
    author = books["sample-017"]["author"]
    body = http.get("/api/search", params={"q": "dragon", "author": author.lower()}).json()
    assert body["hits"] and {hit["author"] for hit in body["hits"]} == {author}
    wrong = http.get("/api/search", params={"q": "dragon", "genre": "cookery"})
    assert wrong.status_code == 422 and "fantasy" in wrong.json()["detail"] and "romance" in wrong.json()["detail"]
    misspelt = http.get("/api/search", params={"q": "dragon", "author": author[:-2]})
    assert misspelt.status_code == 422 and author in misspelt.json()["detail"]
    reversed_years = http.get("/api/search", params={"q": "dragon", "year_min": 2000, "year_max": 1990})
    assert reversed_years.status_code == 422 and "reversed" in reversed_years.json()["detail"]


def test_rest_hits_carry_a_confidence_a_tier_and_the_result_a_verdict(http: httpx.Client) -> None:
    with (COVERS / "sample-020.png").open("rb") as cover:
        body = http.post("/api/search", files={"image": ("photo.png", cover, "image/png")}, data={"k": "3"}).json()
    assert body["verdict"] == "found" and body["hits"][0]["tier"] == "found" and body["hits"][0]["id"] == "sample-020"
    assert 0 <= body["hits"][1]["confidence"] <= body["hits"][0]["confidence"] <= 1
    assert {hit["tier"] for hit in body["hits"]} <= {"found", "likely", "possible"}


def test_rest_empty_query_is_refused_with_a_reason(http: httpx.Client) -> None:
    for response in (http.get("/api/search"), http.post("/api/search", data={"q": "  "})):
        assert response.status_code == 422 and response.json() == {"detail": EMPTY_QUERY}


def test_rest_bad_parameters_get_one_readable_sentence(http: httpx.Client) -> None:
    response = http.get("/api/search", params={"q": "tea", "k": 0})
    assert response.status_code == 422 and response.json()["detail"].startswith("k: ")
    response = http.get("/api/search", params={"q": "tea", "year_min": 2**63})  # once a 500 from the store
    assert response.status_code == 422 and response.json()["detail"].startswith("year_min: ")


def test_rest_non_image_upload_gets_a_reason_and_the_app_keeps_serving(http: httpx.Client) -> None:
    response = http.post("/api/search", files={"image": ("cover.jpg", b"%PDF-1.4 not a cover", "image/jpeg")})
    assert response.status_code == 400 and "not an image" in response.json()["detail"]
    assert http.get("/api/health").json()["status"] == "ok"


def test_rest_oversized_upload_is_refused(http: httpx.Client) -> None:
    big = b"\0" * (10 * 1024 * 1024 + 1)
    response = http.post("/api/search", files={"image": ("big.png", big, "image/png")})
    assert response.status_code == 413 and "10 MB" in response.json()["detail"]
    # the same upload without a Content-Length (chunked): refused once read past the cap
    boundary = "folio-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + big
        + f"\r\n--{boundary}--\r\n".encode()
    )
    chunks = (body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20))
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = http.post("/api/search", content=chunks, headers=headers)
    assert response.status_code == 413
    assert http.get("/api/health").status_code == 200


# -- REST: similar books ------------------------------------------------------------------------
def test_rest_similar_books_by_cover_and_by_description(http: httpx.Client) -> None:
    body = http.get("/api/books/sample-020/similar", params={"by": "cover", "k": 3}).json()
    assert len(body["hits"]) == 3 and all("image_vs_cover" in hit["signals"] for hit in body["hits"])
    assert "sample-020" not in {hit["id"] for hit in body["hits"]}
    body = http.get("/api/books/sample-020/similar", params={"by": "description"}).json()
    assert len(body["hits"]) == 10 and all("text_vs_text" in hit["signals"] for hit in body["hits"])
    assert "sample-020" not in {hit["id"] for hit in body["hits"]}


def test_rest_similar_refuses_unknown_books_and_bad_requests(http: httpx.Client) -> None:
    missing = http.get("/api/books/no-such-book/similar")
    assert missing.status_code == 404 and "no-such-book" in missing.json()["detail"]
    bad = http.get("/api/books/sample-001/similar", params={"by": "spine"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("by: ")


def test_rest_similar_by_cover_needs_a_cover(coverless_folio: Folio) -> None:
    client = TestClient(create_api(coverless_folio))
    response = client.get("/api/books/no-cover/similar", params={"by": "cover"})
    assert response.status_code == 422 and "no usable cover" in response.json()["detail"]
    assert client.get("/api/books/no-cover/similar", params={"by": "description"}).status_code == 200


# -- REST: books, covers, health, schema ----------------------------------------------------------
def test_rest_book_by_id(http: httpx.Client, books) -> None:
    body = http.get("/api/books/sample-007").json()
    assert body["id"] == "sample-007" and body["title"] == books["sample-007"]["title"]
    assert body["year"] == int(books["sample-007"]["year"]) and body["cover_url"] == "/covers/sample-007"
    missing = http.get("/api/books/no-such-book")
    assert missing.status_code == 404 and "no-such-book" in missing.json()["detail"]


def test_covers_are_served_from_the_stored_record(http: httpx.Client) -> None:
    response = http.get("/covers/sample-007")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content == (COVERS / "sample-007.png").read_bytes()
    for unknown in ("/covers/no-such-book", "/covers/..%2F..%2Fpyproject.toml", "/covers/../app.py"):
        assert http.get(unknown).status_code == 404, unknown


def test_health(http: httpx.Client) -> None:
    body = http.get("/api/health").json()
    assert body["status"] == "ok" and body["store_reachable"] and body["models_loaded"]
    assert body["profile"] == "offline" and body["books"] == 64 and body["covers"] == 64


def test_openapi_schema_describes_the_endpoints(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/search"])
    post = paths["/api/search"]["post"]
    assert {"200", "400", "413", "422"} <= set(post["responses"])
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert post["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert "404" in paths["/api/books/{book_id}"]["get"]["responses"]
    assert "image/*" in paths["/covers/{book_id}"]["get"]["responses"]["200"]["content"]
    similar = paths["/api/books/{book_id}/similar"]["get"]
    assert {"200", "404", "422"} <= set(similar["responses"]) and "401" not in similar["responses"]


# -- who may use the app -------------------------------------------------------------------------
def test_with_a_token_the_rest_api_wants_it(offline_folio: Folio) -> None:
    app = server.create_app(offline_folio, api_token="s3cret-token")
    paths = ("/api/search?q=tea", "/api/books/sample-001", "/api/books/sample-001/similar", "/covers/sample-001")
    for number, path in enumerate(paths):
        client = TestClient(app, client=(f"10.0.1.{number}", 5))  # each its own address: two failures each
        refused = client.get(path)
        assert refused.status_code == 401 and "Bearer" in refused.json()["detail"], path
        assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200, path
    schema = client.get("/openapi.json").json()  # the docs stay readable, and say how to authenticate
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "401" in schema["paths"]["/api/search"]["get"]["responses"]


def test_with_a_login_the_page_wants_it(offline_folio: Folio) -> None:
    with TestClient(server.create_app(offline_folio, auth=("reader", "open sesame"))) as client:
        assert client.get("/config").status_code == 401
        assert client.post("/login", data={"username": "reader", "password": "wrong"}).status_code == 400
        assert client.post("/login", data={"username": "reader", "password": "open sesame"}).status_code == 200
        assert client.get("/config").status_code == 200
        assert client.get("/api/search", params={"q": "tea"}).status_code == 200  # no token asked for


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("::", False), ("192.168.1.20", False), ("folio.example.org", False)],
)  # fmt: skip
def test_which_hosts_are_loopback(host: str, loopback: bool) -> None:
    assert access.is_loopback(host) is loopback


@pytest.fixture
def start_up(offline_folio: Folio, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """main() without serving: open_search gives the session's folio, uvicorn.run records its arguments."""
    served: list[dict] = []
    for name in ("FOLIO_AUTH", "FOLIO_API_TOKEN", "FOLIO_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(folio_app, "open_search", lambda settings: offline_folio)
    monkeypatch.setattr(folio_app.uvicorn, "run", lambda app, **options: served.append({"app": app, **options}))
    return served


def test_a_public_host_without_a_login_and_a_token_is_refused(
    start_up: list[dict], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened = []
    monkeypatch.setattr(folio_app, "open_search", lambda settings: opened.append(settings))
    assert folio_app.main(["--host", "0.0.0.0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("folio: refusing to serve on 0.0.0.0") and "FOLIO_AUTH" in error
    assert "FOLIO_API_TOKEN" in error and "Traceback" not in error
    monkeypatch.setenv("FOLIO_AUTH", "reader:pw")
    assert folio_app.main(["--host", "0.0.0.0"]) == 2
    error = capsys.readouterr().err
    assert "FOLIO_API_TOKEN" in error and "FOLIO_AUTH" not in error
    assert opened == [] and start_up == []  # refused before loading anything


def test_a_malformed_login_is_refused(start_up: list[dict], capsys: pytest.CaptureFixture[str]) -> None:
    assert folio_app.main(["--auth", "no-colon"]) == 2
    assert "USER:PASSWORD" in capsys.readouterr().err and start_up == []


def test_a_public_host_with_a_login_and_a_token_is_served(
    start_up: list[dict], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FOLIO_API_TOKEN", STRONG_TOKEN)
    assert folio_app.main(["--host", "0.0.0.0", "--port", "8123", "--auth", f"reader:{STRONG_PASSWORD}"]) == 0
    (served,) = start_up
    assert served["host"] == "0.0.0.0" and served["port"] == 8123
    assert TestClient(served["app"]).get("/api/health").status_code == 401
    assert "login for the page: on; bearer token for the REST API: on" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("token", "password", "named"),
    [(" ", STRONG_PASSWORD, "FOLIO_API_TOKEN has 0 characters"), ("x", STRONG_PASSWORD, "FOLIO_API_TOKEN has 1"),
     ("s3cret-token", STRONG_PASSWORD, "FOLIO_API_TOKEN has 12"), ("a" * 64, STRONG_PASSWORD, "too predictable"),
     ("ab" * 32, STRONG_PASSWORD, "too predictable"), (STRONG_TOKEN, "pw", "password has 2 characters")],
)  # fmt: skip
def test_a_public_host_refuses_weak_credentials_and_suggests_a_strong_token(
    start_up: list[dict], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], token, password, named
) -> None:
    monkeypatch.setenv("FOLIO_API_TOKEN", token)
    assert folio_app.main(["--host", "0.0.0.0", "--auth", f"reader:{password}"]) == 2
    error = capsys.readouterr().err
    assert "weak credentials" in error and named in error and start_up == []
    suggested = re.search(r"FOLIO_API_TOKEN=(\S+) ", error).group(1)
    assert len(suggested) >= 43 and not access.weakness(suggested, access.TOKEN_RULE)
    assert folio_app.main(["--auth", f"reader:{password}"]) == 0  # loopback: the machine's own users only


def test_repeated_wrong_tokens_and_logins_are_slowed_down(offline_folio: Folio) -> None:
    client = TestClient(server.create_app(offline_folio, auth=("reader", STRONG_PASSWORD), api_token=STRONG_TOKEN))
    wrong = {"Authorization": "Bearer wrong-guess"}
    assert [client.get("/api/health", headers=wrong).status_code for _ in range(5)] == [401] * 5
    blocked = client.get("/api/health", headers={"Authorization": f"Bearer {STRONG_TOKEN}"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1  # even the right token waits
    assert "too many failed" in blocked.json()["detail"]
    assert client.post("/login", data={"username": "reader", "password": STRONG_PASSWORD}).status_code == 429

    other = TestClient(server.create_app(offline_folio, auth=("reader", STRONG_PASSWORD)), client=("10.0.0.9", 5))
    logins = [other.post("/login", data={"username": "reader", "password": f"guess{n}"}).status_code for n in range(6)]
    assert logins == [400] * 5 + [429]
    assert other.get("/").status_code == 200  # the page itself still loads


def test_the_throttle_delay_doubles_and_expires() -> None:
    now = [0.0]
    throttle = throttle_module.FailureThrottle(app=None, allowed=3, window=60, base_delay=2, clock=lambda: now[0])
    for _ in range(3):
        throttle.record_failure("1.2.3.4")
    assert throttle.wait("1.2.3.4") == 2 and throttle.wait("5.6.7.8") == 0
    throttle.record_failure("1.2.3.4")
    assert throttle.wait("1.2.3.4") == 4
    now[0] = 5.0
    assert throttle.wait("1.2.3.4") == 0


def test_loopback_is_the_default_and_needs_no_login(start_up: list[dict]) -> None:
    assert folio_app.main([]) == 0
    assert start_up[0]["host"] == "127.0.0.1"
    assert TestClient(start_up[0]["app"]).get("/api/health").status_code == 200


# -- the page's own logic and start-up -----------------------------------------------------------
def test_page_says_what_to_try_when_nothing_clears_the_cut_off(offline_folio: Folio) -> None:
    facts = catalog.catalog_facts(offline_folio)
    query = handlers.make_query(facts, "quantum zeppelin", None, k=5, min_score=1.0)
    status, *_, view = handlers.page_search(offline_folio, query)
    assert "No results" in status and "minimum relevance" in status and view.hits == []
    assert "photo" not in status  # a typed query gets no advice about photos
    assert handlers.page_search(offline_folio, handlers.make_query(facts, "", None))[0] == handlers.PROMPT


def test_a_year_that_is_not_a_year_is_said_plainly_not_crashed_on(offline_folio: Folio) -> None:
    facts = catalog.catalog_facts(offline_folio)
    query = handlers.make_query(facts, "the sea", None, year_from="abc")
    status, *_, view = handlers.page_search(offline_folio, query)
    assert "is not a year" in status and "abc" in status and view.hits == []
    assert handlers.make_query(facts, "the sea", None, year_from=1999.0, year_to="2005").filters.year_min == 1999


def test_the_page_is_never_empty_when_something_ranked(offline_folio: Folio) -> None:
    """No cut-off by default: a topic query shows ranked books, and the header says none is clearly it."""
    facts = catalog.catalog_facts(offline_folio)
    status, *_, view = handlers.page_search(offline_folio, handlers.make_query(facts, "murder mystery", None))
    assert status == "### Not in this catalog — the closest books:" and len(view.hits) == 10
    assert "mystery" in {hit.genre for hit in view.hits[:3]}
    confidences = [hit.confidence for hit in view.hits]
    assert confidences == sorted(confidences, reverse=True)  # the one number per card never rises down the list


def test_the_page_says_found_and_puts_possible_matches_below_a_divider(offline_folio: Folio, books) -> None:
    facts = catalog.catalog_facts(offline_folio)
    query = handlers.make_query(facts, "", str(COVERS / "sample-020.png"))
    status, _, divider, possible, more, *_, view = handlers.page_search(offline_folio, query)
    assert status.startswith(f"### Found: *{render.md_escape(books['sample-020']['title'])}*")
    assert view.hits[0].book_id == "sample-020" and view.hits[0].tier == "found"
    assert {hit.tier for hit in view.hits[: view.best]} <= {"found", "likely"} and more.visible is True
    assert divider.visible is True and possible.visible is True
    assert view.best < len(view.hits) and all(hit.tier == "possible" for hit in view.hits[view.best :])


def test_sorting_orders_the_cards_and_load_more_asks_for_more(offline_folio: Folio) -> None:
    facts = catalog.catalog_facts(offline_folio)
    query = handlers.make_query(facts, "the sea", None, sort="Year (newest first)", k=5)
    *_, view = handlers.page_search(offline_folio, query)
    years = [hit.year for hit in view.hits]
    assert years == sorted(years, reverse=True) and view.best == len(view.hits) == 5
    query = handlers.make_query(facts, "the sea", None, sort="Title (A–Z)", k=5)
    *_, view = handlers.page_load_more(offline_folio, query, view)
    titles = [hit.title.casefold() for hit in view.hits]
    assert titles == sorted(titles) and len(titles) == view.requested == 15


def test_filters_are_case_insensitive_and_a_reversed_range_is_said_plainly(offline_folio: Folio, books) -> None:
    facts = catalog.catalog_facts(offline_folio)
    author = books["sample-017"]["author"]
    query = handlers.make_query(facts, "dragon", None, author=author.upper())
    *_, view = handlers.page_search(offline_folio, query)
    assert view.hits and {hit.author for hit in view.hits} == {author}
    assert f"author\\: {author.upper()}</span>" in handlers.filter_chips(query)
    status, *_, view = handlers.page_search(
        offline_folio, handlers.make_query(facts, "dragon", None, year_from=2000, year_to=1990)
    )
    assert "Check the filters" in status and "reversed" in status and view.hits == []


def test_page_explains_an_unusable_image(offline_folio: Folio, tmp_path: Path) -> None:
    not_an_image = tmp_path / "cover.png"
    not_an_image.write_bytes(b"<html>not a cover</html>")
    facts = catalog.catalog_facts(offline_folio)
    query = handlers.make_query(facts, "", str(not_an_image))
    status, *_, view = handlers.page_search(offline_folio, query)
    assert "can't be used" in status and "not an image" in status and view.hits == []


def test_page_captions_name_the_book_and_one_number(offline_folio: Folio, books) -> None:
    result = offline_folio.search(books["sample-005"]["title"], k=1)
    caption = render.caption(result.hits[0])
    assert caption.startswith(f"{books['sample-005']['title']} — {books['sample-005']['author']} (")
    assert re.search(r"\) · (Found|Likely|Possible) · \d{1,3}%$", caption), caption
    assert caption.endswith(render.badge(result.hits[0])) and render.badge(result.hits[0]).startswith(
        render.TIER_WORDS[result.hits[0].tier]
    )
    by_cover = offline_folio.search("", COVERS / "sample-020.png", k=1).hits[0]
    assert explain.matched_groups(by_cover.signals) == ["cover text", "visual"]
    assert render.caption(by_cover).endswith(render.badge(by_cover))


def test_the_detail_explains_a_result_and_highlights_the_query_words(offline_folio: Folio, books) -> None:
    facts = catalog.catalog_facts(offline_folio)
    query = handlers.make_query(facts, "the dragon of ember", None, k=3, min_score=0.3)
    *_, view = handlers.page_search(offline_folio, query)
    assert view.words == {"dragon", "ember"}  # "the" and "of" are too common to highlight
    html, panel, selected, like_cover = handlers.page_detail(view, 0)
    book = books["sample-017"]
    assert selected.book_id == "sample-017" and panel.visible is True and like_cover.interactive is True
    assert "The <mark>Dragon</mark> of <mark>Ember</mark> Vale" in html
    assert f'alt="Cover of {book["title"]} by {book["author"]}"' in html and 'src="data:image/jpeg;base64,' in html
    assert (
        f"{render.badge(selected)}</span>" in html and "Why this result?</summary><p>It matched on title/author" in html
    )
    assert "Stage 1 score (rank)" in html and f"{selected.stage2_score:.3f}" in html
    assert "<code>title_match</code>" in html and "✓ matched" in html
    assert handlers.page_detail(view, 99)[1].visible is False  # a stale index closes the panel


def test_highlighting_escapes_html_and_matches_whole_words() -> None:
    words = explain.query_words("Tea <b>shop</b>")
    assert words == {"tea", "shop"}  # one-letter words are left out
    assert explain.highlight("A <tea> party at the teashop", words) == "A &lt;<mark>tea</mark>&gt; party at the teashop"


def test_more_like_this_fills_the_gallery_with_other_books(offline_folio: Folio, books) -> None:
    facts = catalog.catalog_facts(offline_folio)
    book = offline_folio.search(books["sample-020"]["title"], k=1).hits[0]
    query = handlers.make_query(facts, "", None, "fantasy", k=4, min_score=0.9)  # min relevance is ignored
    status, *_, view = handlers.page_more_like(offline_folio, book, "cover", query)
    assert f"like *{book.title}* by its cover" in status and len(view.hits) == 4
    assert all(hit.genre == "fantasy" and hit.book_id != "sample-020" for hit in view.hits)
    assert not view.words  # nothing to highlight when covers were compared
    status, *_, view = handlers.page_more_like(offline_folio, book, "description", query)
    assert "by its description" in status and view.hits and "mount" in view.words


def test_more_like_this_explains_what_it_cannot_do(coverless_folio: Folio) -> None:
    facts = catalog.catalog_facts(coverless_folio)
    query = handlers.make_query(facts, "", None, k=3)
    book = coverless_folio.search("Uncovered", k=1).hits[0]
    assert book.book_id == "no-cover"
    assert "has no cover to compare" in handlers.page_more_like(coverless_folio, book, "cover", query)[0]
    assert handlers.page_detail(handlers.ResultsView([book]), 0)[3].interactive is False
    gone = dataclasses.replace(book, book_id="gone")
    assert "no longer in the catalog" in handlers.page_more_like(coverless_folio, gone, "cover", query)[0]


def test_the_cover_input_hands_an_unreadable_upload_to_the_search(tmp_path: Path) -> None:
    not_an_image = tmp_path / "cover.jpg"
    not_an_image.write_bytes(b"%PDF-1.4 not a cover")
    cover_input = page.lenient(gr.Image(type="filepath", render=False))
    assert cover_input.preprocess(ImageData(path=str(not_an_image))) == str(not_an_image)
    assert cover_input.preprocess(None) is None
    assert not list((ROOT / "web").glob("*.pyi")) and not (ROOT / "app.pyi").exists()  # no Gradio stub files


def test_catalog_facts_and_examples(offline_folio: Folio) -> None:
    facts = catalog.catalog_facts(offline_folio)
    assert facts.books == 64 and "romance" in facts.genres and facts.year_min < facts.year_max
    assert len(facts.example_queries) == 3 and 2 <= len(facts.example_covers) <= 3
    assert len(facts.example_cover_alts) == len(facts.example_covers)
    assert all(alt.startswith("Example: the cover of ") for alt in facts.example_cover_alts)


def test_empty_catalog_is_served_with_a_message(offline_folio: Folio, tmp_path: Path) -> None:
    empty = open_search(Settings(profile="offline", data_dir=tmp_path), create=True, models=offline_folio.models)
    demo = page.build_ui(empty)
    texts = [block.value for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    assert any(EMPTY_CATALOG in (text or "") for text in texts)
    body = TestClient(create_api(empty)).get("/api/search", params={"q": "anything"}).json()
    assert body["hits"] == [] and body["message"] == EMPTY_CATALOG


def test_an_unreachable_store_gets_503_and_a_message(offline_folio: Folio, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("Chroma server at 127.0.0.1:9 did not answer")

    monkeypatch.setattr(offline_folio, "search", down)
    response = TestClient(create_api(offline_folio)).get("/api/search", params={"q": "tea"})
    assert response.status_code == 503 and "did not answer" in response.json()["detail"]
    facts = catalog.catalog_facts(offline_folio)
    status, *_ = handlers.page_search(offline_folio, handlers.make_query(facts, "tea", None))
    assert "cannot be reached" in status


def test_start_up_errors_exit_2_without_a_traceback(
    offline_folio: Folio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    client.create_collection(
        "books_texts", metadata={"folio_schema": 1, "folio_identity": "other", "folio_profile": "x"}
    )
    monkeypatch.setattr(service, "load_models", lambda settings, **_: LoadedModels(offline_folio.models))
    assert folio_app.main(["--profile", "offline", "--data-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("folio: ") and "was built by profile 'x'" in error and "Traceback" not in error


def test_a_newly_registered_signal_is_explained_on_the_page(offline_folio: Folio, books) -> None:
    """The page reads what a signal compares from the registry: a toy signal needs no change in web/."""
    from multimodal.signals import pair_signal, unregister

    pair_signal("toy_title_length", group="title/author", compares="how long the title is", threshold=0.5)(
        lambda query, book: 1.0
    )
    try:
        hit = dataclasses.replace(offline_folio.search(books["sample-005"]["title"], k=1).hits[0])
        hit.signals = {"toy_title_length": 0.9}
        html = render.detail_html(hit, frozenset())
        assert "<li>how long the title is: a match</li>" in html and "<code>toy_title_length</code>" in html
        assert "It matched on title/author" in html
    finally:
        unregister("toy_title_length")
