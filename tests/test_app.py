"""The web app end to end: the real app (REST API + Gradio page) served by uvicorn on a free port.

The server runs in a thread of the test process on the ``offline_folio`` fixture (the sample
catalog ingested with the offline profile), so models are loaded once per session.
"""

from __future__ import annotations

import csv
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import gradio as gr
import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app as folio_app
from multimodal import folio as folio_module
from multimodal.api import EMPTY_CATALOG, EMPTY_QUERY, create_api
from multimodal.errors import StoreUnavailable
from multimodal.folio import Folio, LoadedModels
from multimodal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COVERS = ROOT / "assets" / "sample" / "covers"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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


@pytest.fixture(scope="module")
def base_url(offline_folio: Folio) -> Iterator[str]:
    """The real app (create_app) served by uvicorn in a thread; stopped when the module is done."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(folio_app.create_app(offline_folio), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


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
    assert body["hits"] == [] and "minimum score" in body["message"]


def test_rest_empty_query_is_refused_with_a_reason(http: httpx.Client) -> None:
    for response in (http.get("/api/search"), http.post("/api/search", data={"q": "  "})):
        assert response.status_code == 422 and response.json() == {"detail": EMPTY_QUERY}


def test_rest_bad_parameters_get_one_readable_sentence(http: httpx.Client) -> None:
    response = http.get("/api/search", params={"q": "tea", "k": 0})
    assert response.status_code == 422 and response.json()["detail"].startswith("k: ")


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


# -- the page's own logic and start-up -----------------------------------------------------------
def test_page_says_what_to_try_when_nothing_clears_the_cut_off(offline_folio: Folio) -> None:
    facts = folio_app.catalog_facts(offline_folio)
    query = folio_app.make_query(facts, "quantum zeppelin", None, 5, True, None, None, None, 1.0)
    status, gallery, *_ = folio_app.page_search(offline_folio, query)
    assert "No results" in status and "minimum score" in status and gallery == []
    assert folio_app.page_search(offline_folio, folio_app.make_query(facts, "", None, 5, True, None, 0, 0, 0))[0] == (
        folio_app.PROMPT
    )


def test_page_explains_an_unusable_image(offline_folio: Folio, tmp_path: Path) -> None:
    not_an_image = tmp_path / "cover.png"
    not_an_image.write_bytes(b"<html>not a cover</html>")
    facts = folio_app.catalog_facts(offline_folio)
    query = folio_app.make_query(facts, "", str(not_an_image), 5, True, None, None, None, 0)
    status, gallery, *_ = folio_app.page_search(offline_folio, query)
    assert "can't be used" in status and "not an image" in status and gallery == []


def test_page_captions_show_both_stages(offline_folio: Folio, books) -> None:
    result = offline_folio.search(books["sample-005"]["title"], k=1)
    caption = folio_app.caption(result.hits[0])
    assert caption.startswith(f"{books['sample-005']['title']} — {books['sample-005']['author']} (")
    assert "· stage1 " in caption and " → stage2 " in caption


def test_catalog_facts_and_examples(offline_folio: Folio) -> None:
    facts = folio_app.catalog_facts(offline_folio)
    assert facts.books == 64 and "romance" in facts.genres and facts.year_min < facts.year_max
    assert len(facts.example_queries) == 3 and 2 <= len(facts.example_covers) <= 3


def test_empty_catalog_is_served_with_a_message(offline_folio: Folio, tmp_path: Path) -> None:
    empty = Folio(Settings(profile="offline", data_dir=tmp_path), LoadedModels(offline_folio.models))
    demo = folio_app.build_ui(empty)
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
    facts = folio_app.catalog_facts(offline_folio)
    status, *_ = folio_app.page_search(offline_folio, folio_app.make_query(facts, "tea", None, 5, True, None, 0, 0, 0))
    assert "cannot be reached" in status


def test_start_up_errors_exit_2_without_a_traceback(
    offline_folio: Folio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    client.create_collection(
        "books_texts", metadata={"folio_schema": 1, "folio_identity": "other", "folio_profile": "x"}
    )
    monkeypatch.setattr(folio_module, "load_models", lambda settings: LoadedModels(offline_folio.models))
    assert folio_app.main(["--profile", "offline", "--data-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("folio: ") and "was built by profile 'x'" in error and "Traceback" not in error
