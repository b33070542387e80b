"""Ingest a librarian can trust: a killed run or a vanished server loses nothing, and a rerun resumes.

Every check ends the same way: each catalog book is stored exactly once, with both its text record
and its cover vector (no half-written book), and the rerun counts the books already stored as unchanged.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image, ImageDraw

from ingest.job import IngestJob, IngestOptions, IngestSummary
from multimodal.chroma_server import ChromaServer
from multimodal.service import LoadedModels, load_models
from multimodal.settings import Settings
from multimodal.store import BookStore

BOOKS = 256  # two ingest chunks of 128: the first is stored when the run is interrupted in the second
CHUNK = 128  # IngestOptions.chunk_size
RUN_TIMEOUT = 240  # seconds for one ingest subprocess on a busy 2-core machine


def make_catalog(folder: Path, count: int, prefix: str = "r", title: str = "Volume") -> Path:
    """A catalog of count books (ids ``{prefix}000``…, titles ``{title} 0``…), each with its own (non-blank) cover."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    path = folder / "catalog.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "title", "author", "year", "genre", "description", "cover"])
        for i in range(count):
            image = Image.new("RGB", (120, 180), tuple(int(c) for c in rng.integers(0, 255, 3)))
            draw = ImageDraw.Draw(image)
            for _ in range(4):
                x, y = (int(v) for v in rng.integers(0, 120, 2))
                draw.rectangle((x, y, x + 40, y + 60), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
            image.save(folder / f"c{i:03d}.png")
            place = ["harbour", "orchard", "observatory", "bakery"][i % 4]
            book_id, cover = f"{prefix}{i:03d}", f"c{i:03d}.png"
            writer.writerow([book_id, f"{title} {i}", f"Writer {i % 17}", 1950 + i % 70, "mystery", place, cover])
    return path


def catalog_ids(catalog: Path) -> list[str]:
    with catalog.open(newline="") as stream:
        return sorted(row["id"] for row in csv.DictReader(stream))


def assert_every_book_once_and_whole(store: BookStore, catalog: Path) -> None:
    """Each catalog book exactly once, each with both its text record and its cover vector."""
    expected = catalog_ids(catalog)
    texts = store.texts.get(include=["metadatas"])
    covers = store.covers.get(include=[])
    assert sorted(texts["ids"]) == expected and store.count() == len(expected)
    assert sorted(covers["ids"]) == expected and store.covers.count() == len(expected)
    assert all(metadata.get("content_hash") for metadata in texts["metadatas"])


class Run:
    """``python -m ingest`` as a subprocess whose stderr (the progress bar) a test can watch."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ingest", *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out, self.err = bytearray(), bytearray()
        self.readers = [
            threading.Thread(target=self._drain, args=(self.process.stdout, self.out), daemon=True),
            threading.Thread(target=self._drain, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _drain(stream, into: bytearray) -> None:
        while chunk := stream.read1(4096):
            into.extend(chunk)

    @property
    def stdout(self) -> str:
        return self.out.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.decode(errors="replace")

    def wait_for_progress(self, done: int, total: int, timeout: float = RUN_TIMEOUT) -> None:
        """Wait until the progress bar shows at least done of total books stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = [int(n) for n in re.findall(rf"(\d+)/{total}\b", self.stderr)]
            if shown and max(shown) >= done:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"ingest never showed {done}/{total} (exit {self.process.poll()}):\n{self.stderr[-3000:]}")

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        code = self.process.wait(timeout)
        for reader in self.readers:
            reader.join(10)
        return code

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.wait()


def ingest_args(catalog: Path, data_dir: Path, *extra: str) -> list[str]:
    return [str(catalog), "--profile", "offline", "--data-dir", str(data_dir), *extra]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_catalog(tmp_path_factory.mktemp("resume-catalog"), BOOKS)


@pytest.fixture(scope="module")
def offline_models() -> LoadedModels:
    return load_models(Settings(profile="offline", query_ocr=False))


def rerun(
    models: LoadedModels, settings: Settings, catalog: Path, **options: object
) -> tuple[IngestSummary, BookStore]:
    """The same ingest again, in this process (the models are already loaded)."""
    store = BookStore(settings, models.models.profile.name, models.models.identity)
    options.setdefault("cache_dir", settings.data_dir / "cover-cache")
    summary = IngestJob(models.models, store, IngestOptions(catalog=catalog, progress=False, **options)).run()
    return summary, store


def test_kill_9_mid_ingest_then_rerun_stores_every_book_once(catalog: Path, offline_models, tmp_path: Path):
    data = tmp_path / "data"
    with Run(ingest_args(catalog, data)) as run:
        run.wait_for_progress(CHUNK, BOOKS)  # the first chunk is stored; the run is in the second
        run.process.send_signal(signal.SIGKILL)
        assert run.wait() == -signal.SIGKILL

    summary, store = rerun(offline_models, Settings(profile="offline", data_dir=data), catalog)
    assert summary.unchanged >= CHUNK and summary.updated == 0 and not summary.rejected
    assert summary.ingested + summary.unchanged == BOOKS
    assert_every_book_once_and_whole(store, catalog)


class Crash(BaseException):
    """Stands in for the process dying: nothing in the job catches it."""


class CrashingTexts:
    """The texts collection, except that its n-th upsert dies: the cover vectors are then written, the text not."""

    def __init__(self, collection, crash_on: int) -> None:
        self.collection = collection
        self.crash_on = crash_on
        self.upserts = 0

    def upsert(self, **kwargs: object) -> None:
        self.upserts += 1
        if self.upserts == self.crash_on:
            raise Crash
        self.collection.upsert(**kwargs)

    def __getattr__(self, name: str):
        return getattr(self.collection, name)


def test_a_death_between_the_cover_and_text_writes_is_redone(offline_models, tmp_path: Path):
    small = make_catalog(tmp_path / "small", 40)
    settings = Settings(profile="offline", data_dir=tmp_path / "data")
    store = BookStore(settings, offline_models.models.profile.name, offline_models.models.identity)
    store.texts = CrashingTexts(store.texts, crash_on=2)
    options = IngestOptions(catalog=small, progress=False, chunk_size=16, cache_dir=tmp_path / "cache")
    with pytest.raises(Crash):
        IngestJob(offline_models.models, store, options).run()

    half = BookStore(settings, offline_models.models.profile.name, offline_models.models.identity)
    assert (half.count(), half.covers.count()) == (16, 32)  # chunk two has cover vectors but no text records

    summary, store = rerun(offline_models, settings, small, chunk_size=16)
    assert (summary.ingested, summary.updated, summary.unchanged) == (24, 0, 16)
    assert_every_book_once_and_whole(store, small)


def test_server_gone_mid_ingest_stops_cleanly_and_a_rerun_resumes(catalog: Path, offline_models, tmp_path: Path):
    data = tmp_path / "data"
    with ChromaServer(tmp_path / "server") as server:
        args = ingest_args(catalog, data, "--chroma-host", server.host, "--chroma-port", str(server.port))
        with Run(args, env={"FOLIO_STORE_RETRY_SECONDS": "3"}) as run:
            run.wait_for_progress(CHUNK, BOOKS)
            run.process.send_signal(signal.SIGSTOP)  # hold the run still while its server goes away
            try:
                server.stop()
            finally:
                run.process.send_signal(signal.SIGCONT)
            code = run.wait()
        assert code == 4, run.stderr[-3000:]
        assert "store unreachable" in run.stderr and "rerun the same command to resume" in run.stderr
        assert "Traceback" not in run.stderr

        server.start()  # the same data path and port
        settings = Settings(profile="offline", data_dir=data, chroma_host=server.host, chroma_port=server.port)
        summary, store = rerun(offline_models, settings, catalog)  # the same job, in-process: no second model load
        assert summary.unchanged >= CHUNK and summary.updated == 0 and not summary.rejected
        assert summary.ingested + summary.unchanged == BOOKS
        assert_every_book_once_and_whole(store, catalog)


def test_a_frozen_server_stops_ingest_with_exit_4_within_seconds(catalog: Path, offline_models, tmp_path: Path):
    data = tmp_path / "data"
    with ChromaServer(tmp_path / "server") as server:
        args = ingest_args(catalog, data, "--chroma-host", server.host, "--chroma-port", str(server.port))
        deadlines = {"FOLIO_STORE_RETRY_SECONDS": "2", "FOLIO_STORE_TIMEOUT_SECONDS": "2"}
        with Run(args, env=deadlines) as run:
            run.wait_for_progress(CHUNK, BOOKS)
            server.process.send_signal(signal.SIGSTOP)  # alive, accepting connections, answering nothing
            frozen_at = time.monotonic()
            try:
                code = run.wait(timeout=60)
                stopped_after = time.monotonic() - frozen_at
            finally:
                server.process.send_signal(signal.SIGCONT)
        assert code == 4, run.stderr[-3000:]
        assert stopped_after < 30, f"ingest stopped {stopped_after:.0f}s after the server froze"
        assert "store unreachable" in run.stderr and "rerun the same command to resume" in run.stderr

        settings = Settings(profile="offline", data_dir=data, chroma_host=server.host, chroma_port=server.port)
        summary, store = rerun(offline_models, settings, catalog)  # the thawed server: the rerun resumes
        assert summary.unchanged >= CHUNK and summary.ingested + summary.unchanged == BOOKS
        assert_every_book_once_and_whole(store, catalog)
