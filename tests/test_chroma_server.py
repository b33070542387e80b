"""Chroma server mode, for real: a ``chroma run`` process, three ingest workers against it, search through it."""

from __future__ import annotations

import contextlib
import csv
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from multimodal.chroma_server import ChromaServer, free_port, heartbeat
from multimodal.errors import FolioError, StoreMismatch, StoreUnavailable
from multimodal.folio import Folio
from multimodal.retry import RetryPolicy, is_connection_error, retrying
from multimodal.settings import Settings
from multimodal.store import BookStore

WORKER_TIMEOUT = 300  # seconds: three workers loading models at once on a busy 2-core machine


def catalog_ids(catalog: Path) -> list[str]:
    with catalog.open(newline="") as stream:
        return sorted(row["id"] for row in csv.DictReader(stream))


def server_ids(server: ChromaServer, collection: str) -> list[str]:
    import chromadb

    client = chromadb.HttpClient(host=server.host, port=server.port)
    return sorted(client.get_collection(collection).get(include=[])["ids"])


def processes_mentioning(text: str) -> list[int]:
    """Pids of running processes whose command line mentions text (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    with ChromaServer(tmp_path_factory.mktemp("chroma-server") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def workers(server: ChromaServer, sample_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The sample catalog ingested by three concurrent ``python -m ingest --shard I/3`` workers into one server."""
    folder = tmp_path_factory.mktemp("workers")
    started = []
    for index in range(3):
        out, err = (folder / f"w{index}.out").open("w"), (folder / f"w{index}.err").open("w")
        command = [sys.executable, "-m", "ingest", str(sample_catalog), "--profile", "offline", "--no-progress"]
        command += ["--chroma-host", server.host, "--chroma-port", str(server.port), "--shard", f"{index}/3"]
        command += ["--data-dir", str(folder / f"w{index}")]
        started.append((subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err), out, err, index))
    try:
        deadline = time.monotonic() + WORKER_TIMEOUT
        for process, *_ in started:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process, out, err, _ in started:
            if process.poll() is None:
                process.kill()
                process.wait()
            out.close()
            err.close()
    return [
        {
            "code": process.returncode,
            "stdout": (folder / f"w{index}.out").read_text(),
            "stderr": (folder / f"w{index}.err").read_text(),
        }
        for process, _, _, index in started
    ]


def test_three_workers_store_every_book_exactly_once(workers: list[dict], server: ChromaServer, sample_catalog: Path):
    for worker in workers:
        assert worker["code"] == 0, worker["stderr"]
        assert f"store chroma server {server.host}:{server.port}" in worker["stderr"]
    shares = [int(re.search(r"ingested (\d+) new", worker["stdout"]).group(1)) for worker in workers]
    assert sum(shares) == 64 and all(share > 0 for share in shares)
    expected = catalog_ids(sample_catalog)
    assert server_ids(server, "books_texts") == expected
    assert server_ids(server, "books_covers") == expected


def test_search_through_the_server_finds_a_cover(workers: list[dict], server: ChromaServer, tmp_path: Path):
    settings = Settings(
        profile="offline", chroma_host=server.host, chroma_port=server.port, data_dir=tmp_path, query_ocr=False
    )
    folio = Folio.open(settings)
    info = folio.info()
    assert (info.books, info.covers) == (64, 64) and info.location == f"chroma server {server.host}:{server.port}"
    cover = ROOT / "assets" / "sample" / "covers" / "sample-007.png"
    assert folio.search(image=cover, cross_score=False).hits[0].book_id == "sample-007"


def test_store_identity_is_checked_on_the_server_too(workers: list[dict], server: ChromaServer):
    settings = Settings(chroma_host=server.host, chroma_port=server.port)
    with pytest.raises(StoreMismatch) as refused:
        BookStore(settings, "clip", "some-other-models")
    message = str(refused.value)
    assert f"chroma server {server.host}:{server.port}" in message and "'offline'" in message


def test_a_server_port_in_use_is_refused(server: ChromaServer, tmp_path: Path):
    with pytest.raises(FolioError, match="in use"):
        ChromaServer(tmp_path / "other", port=server.port).start()


def test_an_unreachable_server_is_retried_briefly_then_reported(tmp_path: Path):
    settings = Settings(chroma_host="127.0.0.1", chroma_port=free_port())
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"store unreachable: chroma server 127\.0\.0\.1:\d+ did not answer"):
        BookStore(settings, "offline", "any", retry=RetryPolicy(seconds=1.0, first_wait=0.1))
    assert 1.0 <= time.monotonic() - started < 30


def test_only_connection_errors_are_retried():
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise KeyError("not a connection problem")

    with pytest.raises(KeyError):
        retrying(broken, policy=RetryPolicy(seconds=5), location="here", what="testing")
    assert len(calls) == 1
    try:
        try:
            raise ConnectionRefusedError
        except ConnectionRefusedError:
            raise ValueError("Could not connect to a Chroma server") from None
    except ValueError as wrapped:
        assert not is_connection_error(wrapped)  # `from None` hides the cause: not retried
    try:
        try:
            raise ConnectionRefusedError
        except ConnectionRefusedError:
            raise ValueError("Could not connect to a Chroma server")  # noqa: B904 - chromadb does this
    except ValueError as wrapped:
        assert is_connection_error(wrapped)


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)


def test_server_command_prints_how_to_point_folio_at_it_and_stops_on_ctrl_c(tmp_path: Path, monkeypatch):
    data, port = tmp_path / "people", free_port()
    command = [sys.executable, "-m", "multimodal.chroma_server", "--path", str(data), "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        exports, line = "", ""
        deadline = time.monotonic() + 120
        # Ctrl-C comes once the instructions are printed, as a reader presses it.
        while "Ctrl-C stops it" not in line and time.monotonic() < deadline and process.poll() is None:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            exports = line if "export" in line else exports
        assert f"export FOLIO_CHROMA_HOST=127.0.0.1 FOLIO_CHROMA_PORT={port}" in exports
        assert heartbeat("127.0.0.1", port)
        for name, value in re.findall(r"(FOLIO_\w+)=(\S+)", exports):
            monkeypatch.setenv(name, value)
        assert Settings().uses_server and (Settings().chroma_host, Settings().chroma_port) == ("127.0.0.1", port)
        assert processes_mentioning(str(data))  # the chroma server itself

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not heartbeat("127.0.0.1", port)
    deadline = time.monotonic() + 20  # the server was told to stop; it may take a moment to exit
    while processes_mentioning(str(data)) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftovers = processes_mentioning(str(data))
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    assert not leftovers


def test_the_context_manager_leaves_no_process_behind(tmp_path: Path):
    with ChromaServer(tmp_path / "brief") as server:
        pid = server.process.pid
        assert heartbeat(server.host, server.port)
    assert server.process is None and not heartbeat(server.host, server.port)
    assert not Path(f"/proc/{pid}").exists()


@contextlib.contextmanager
def frozen(server: ChromaServer) -> Iterator[None]:
    """The server stopped dead (SIGSTOP): it accepts connections but answers nothing, until SIGCONT."""
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.process.send_signal(signal.SIGCONT)


def test_a_frozen_server_makes_the_app_answer_503_within_seconds(tmp_path: Path):
    from conftest import ingest
    from fastapi.testclient import TestClient
    from test_resume import make_catalog

    from web.api import create_api

    with ChromaServer(tmp_path / "server") as server:
        settings = Settings(
            profile="offline",
            chroma_host=server.host,
            chroma_port=server.port,
            data_dir=tmp_path / "data",
            query_ocr=False,
            store_retry_seconds=1.0,
            store_timeout_seconds=2.0,
        )
        assert ingest(settings, make_catalog(tmp_path / "catalog", 12)).ingested == 12
        client = TestClient(create_api(Folio.open(settings)), raise_server_exceptions=False)
        assert client.get("/api/health").json()["status"] == "ok"
        with frozen(server):
            for path, params in [("/api/health", {}), ("/api/search", {"q": "Volume 3"}), ("/api/books/r003", {})]:
                started = time.monotonic()
                response = client.get(path, params=params)
                waited = time.monotonic() - started
                assert response.status_code == 503, (path, response.status_code, response.text[:300])
                assert waited < 10, f"{path} took {waited:.1f}s"  # timeout 2 s + retries 1 s, with slack
                assert "unreachable" in response.text or "unavailable" in response.text
        health = client.get("/api/health")  # the server is back: so is the app, without a restart
        assert health.status_code == 200 and health.json()["books"] == 12
        assert client.get("/api/books/r003").json()["title"] == "Volume 3"
