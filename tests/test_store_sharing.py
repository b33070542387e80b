"""One embedded store, two processes: the app keeps answering while ``python -m ingest`` writes into its data dir.

Chroma's embedded client never sees another process's writes; before the store lock
(``multimodal/store_lock.py``) the app's searches failed with HTTP 500 ("Error finding id") from the
first ingested chunk until it was restarted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT
from fastapi.testclient import TestClient
from test_resume import make_catalog

from ingest.job import IngestJob, IngestOptions
from multimodal import Folio, Settings, open_ingest
from multimodal.store import BookStore
from multimodal.store_lock import StoreLock
from web.api import create_api

FIRST_BOOKS = 48
NEW_BOOKS = 150  # two ingest chunks (of 128): the app must see the store change twice
INGEST_TIMEOUT = 240  # seconds, for a model load and 200 books on a busy 2-core machine


def ingest_in_process(settings: Settings, catalog: Path) -> None:
    backend = open_ingest(settings)
    try:
        options = IngestOptions(catalog=catalog, progress=False, cache_dir=settings.data_dir / "cover-cache")
        assert IngestJob(backend.models, backend.store, options).run().ingested == FIRST_BOOKS
    finally:
        backend.store.close()


def test_the_app_answers_while_another_process_ingests_into_its_store(tmp_path: Path):
    data = tmp_path / "data"
    ingest_in_process(Settings(profile="offline", data_dir=data), make_catalog(tmp_path / "first", FIRST_BOOKS))
    new_catalog = make_catalog(tmp_path / "more", NEW_BOOKS, prefix="n", title="Lantern")
    folio = Folio.open(Settings(profile="auto", data_dir=data, query_ocr=False))
    client = TestClient(create_api(folio), raise_server_exceptions=False)  # a 500 is counted, not raised
    assert client.get("/api/health").json()["books"] == FIRST_BOOKS

    command = [sys.executable, "-m", "ingest", str(new_catalog), "--profile", "offline", "--data-dir", str(data)]
    ingest = subprocess.Popen(
        [*command, "--no-progress"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(ingest.stdout), daemon=True)
    reader.start()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    books_seen: set[int] = set()
    deadline = time.monotonic() + INGEST_TIMEOUT
    try:
        round_ = 0
        while ingest.poll() is None and time.monotonic() < deadline:
            round_ += 1
            words = ["Volume 3 harbour", "Lantern 12 orchard", "Writer 5 observatory"][round_ % 3]
            responses = [
                client.get("/api/search", params={"q": words, "cross_score": round_ % 2 == 0}),
                client.get("/api/health"),
                client.get(f"/api/books/n{round_ % NEW_BOOKS:03d}"),  # 404 until it lands, never 500
            ]
            for response in responses:
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(f"{response.request.url}: {response.status_code} {response.text[:300]}")
            if responses[1].status_code == 200:
                books_seen.add(responses[1].json()["books"])
            time.sleep(0.02)
    finally:
        if ingest.poll() is None:
            ingest.kill()
        ingest.wait()
        reader.join(10)
    assert ingest.returncode == 0, "".join(output)[-3000:]
    assert not failures, f"{len(failures)} server errors during the ingest, e.g. {failures[:3]}; {statuses}"
    assert statuses[200] >= 30  # the app really was searched while the other process wrote
    assert FIRST_BOOKS in books_seen  # ... also before the first chunk landed

    health = client.get("/api/health").json()
    assert (health["status"], health["books"]) == ("ok", FIRST_BOOKS + NEW_BOOKS)
    assert client.get("/api/books/n133").json()["title"] == "Lantern 133"
    hits = client.get("/api/search", params={"q": "Lantern", "cross_score": False}).json()["hits"]
    found = [hit["id"] for hit in hits]
    assert len(found) >= 5 and all(book_id.startswith("n") for book_id in found), found  # only the new books


def test_a_renamed_book_is_found_by_title_once_the_write_is_committed(tmp_path: Path):
    """An update keeps the book count: the full-text index refreshes on the store's generation, not its size."""
    settings = Settings(profile="offline", data_dir=tmp_path / "data", query_ocr=False, shortlist=3)
    ingest_in_process(settings, make_catalog(tmp_path / "first", FIRST_BOOKS))
    folio = Folio.open(settings)  # a short shortlist: the renamed book can only come from the full-text index
    folio.searcher.fulltext.recheck_seconds = 0.0
    assert not [hit for hit in folio.search(text="Zeppelin", min_score=0.0).hits if hit.title == "Zeppelin"]

    other = BookStore(settings, folio.store.profile, folio.store.identity)  # as a second process would
    stored = other.fetch(["r005"])["r005"]
    renamed = stored.record
    renamed.title, renamed.content_hash = "Zeppelin", "changed"
    other.write([renamed], stored.text_vector[None, :], [stored.cover_vector])
    other.close()

    assert folio.store.count() == FIRST_BOOKS
    hits = folio.search(text="Zeppelin", min_score=0.0).hits
    assert ("r005", "Zeppelin") in [(hit.book_id, hit.title) for hit in hits], [
        (hit.book_id, hit.title) for hit in hits
    ]


def test_the_lock_counts_committed_writes_and_lets_threads_take_turns(tmp_path: Path):
    lock = StoreLock(tmp_path)
    assert lock.generation() == 0
    with pytest.raises(RuntimeError):
        lock.bump()  # only under the exclusive lock
    with lock.exclusive() as before:
        with lock.shared() as inside:  # a writer may read its own writes
            assert inside == before == 0
        assert lock.bump() == 1
    assert lock.generation() == 1

    order: list[str] = []

    def write() -> None:
        with lock.exclusive():
            order.append("writer")

    with lock.shared():
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.3)
        order.append("reader done")  # the writer waited for the reader to let go
    writer.join(5)
    assert order == ["reader done", "writer"]
