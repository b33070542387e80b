"""Indexes derived from the store's records, kept in step with it by content hash.

Chroma is the only store of record. An index that answers what a vector search cannot (the full-text index,
``multimodal.fulltext``; the covers' local features, ``multimodal.cover_features``) is *derived* from the book
records: each process keeps it in a folder of its own data dir (with a Chroma server, a local cache) and brings it
in step with the store by content hash (``SyncedIndex.sync``: add or replace the books whose hash changed, drop the
ids no longer stored) when it opens and whenever the store changes. So ingest has no second write path, and a
``kill -9`` anywhere leaves nothing to repair: the next sync compares hashes again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from multimodal.records import BookRecord
from multimodal.settings import Settings

log = logging.getLogger(__name__)


class DerivedIndex(Protocol):
    """What ``SyncedIndex`` needs of an index: the content hash of every book it holds, and one write."""

    def hashes(self) -> dict[str, str]: ...

    def apply_records(self, changed: list[BookRecord], removed: list[str]) -> bool:
        """Add or replace ``changed``, drop ``removed``; False when another process is writing (nothing done)."""
        ...

    def __len__(self) -> int: ...


Index = TypeVar("Index", bound=DerivedIndex)


@dataclass(frozen=True)
class SyncReport:
    added: int
    replaced: int
    removed: int
    books: int
    seconds: float
    wrote: bool  # False: another process was writing, this one only reloaded


class SyncedIndex(Generic[Index]):
    """A derived index of a store's books, kept in step with the store by content hash.

    ``sync`` compares the content hashes of the store with the index's and writes the difference.
    Readers call ``current()``, which checks at most every ``recheck_seconds`` whether the store changed (its
    ``generation`` when it has one, else its size); when it did, the index is synced — in line when the last sync
    was quick, else in the background while queries use the index as it is. At open, an index holding fewer than
    ``IN_LINE_FIRST_SYNC_BOOKS`` books is synced in line, and a larger one kept on disk from an earlier run is synced
    in the background.
    """

    QUICK_SYNC_SECONDS = 0.5
    IN_LINE_FIRST_SYNC_BOOKS = 20_000
    name = "derived index"
    folder = "derived"  # each store's index lives in DATA_DIR / folder / STORE-vVERSION (``local_dir``)
    version = 1  # a change of what is indexed, or how, builds a new index

    def __init__(
        self,
        records: Callable[[], Iterable[BookRecord]],
        change_marker: Callable[[], object],
        directory: Path | None = None,
        recheck_seconds: float = 1.0,
    ) -> None:
        self.index = self.open_index(directory)
        self._records = records
        self._change_marker = change_marker
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._marker: object = None
        self._checked_at = 0.0
        self._syncing = False
        self.last_sync: SyncReport | None = None

    def open_index(self, directory: Path | None) -> Index:
        """The index in this folder (None: in memory)."""
        raise NotImplementedError

    @classmethod
    def for_store(cls, store, settings: Settings, recheck_seconds: float = 1.0):
        """The index of a store's books, in its folder of the data dir."""
        marker = getattr(store, "generation", None) or store.count
        return cls(store.iter_records, marker, local_dir(settings, cls.folder, cls.version), recheck_seconds)

    def sync(self) -> SyncReport:
        """Bring the index in step with the store: add new books, replace changed ones, drop removed ones."""
        start = time.perf_counter()
        marker = self._change_marker()
        indexed = self.index.hashes()
        stored: set[str] = set()
        changed: list[BookRecord] = []
        for record in self._records():
            stored.add(record.book_id)
            if indexed.get(record.book_id) != record.content_hash:
                changed.append(record)
        removed = [book_id for book_id in indexed if book_id not in stored]
        wrote = self.index.apply_records(changed, removed) if changed or removed else True
        replaced = sum(record.book_id in indexed for record in changed)
        report = SyncReport(
            len(changed) - replaced, replaced, len(removed), len(stored), time.perf_counter() - start, wrote
        )
        with self._lock:
            self._marker = marker if wrote else None  # a busy writer: check again next time
            self.last_sync = report
        log.info("%s synced: %s", self.name, report)
        return report

    def warm(self) -> None:
        self.current()

    def current(self) -> Index:
        """The index, brought in step with the store first when it changed (see the class)."""
        with self._lock:
            due = time.monotonic() - self._checked_at >= self.recheck_seconds or self.last_sync is None
            if self._syncing or not due:
                return self.index
            self._checked_at = time.monotonic()
            first = self.last_sync is None
            # The first sync runs in line, but a large index kept on disk answers at once while it is
            # brought up to date (reading 100,000 records from the store takes a while).
            quick = (
                len(self.index) < self.IN_LINE_FIRST_SYNC_BOOKS
                if first
                else self.last_sync.seconds <= self.QUICK_SYNC_SECONDS
            )
        if not first and self._change_marker() == self._marker:
            return self.index
        if quick:
            self.sync()
            return self.index
        with self._lock:
            self._syncing = True
        threading.Thread(target=self._sync_in_background, daemon=True, name=f"{self.name} sync").start()
        return self.index

    def _sync_in_background(self) -> None:
        try:
            self.sync()
        finally:
            with self._lock:
                self._syncing = False


def local_dir(settings: Settings, kind: str, version: int) -> Path:
    """A derived index's folder: beside the embedded store, or a local cache of a Chroma server's store."""
    if settings.uses_server:
        name = f"{settings.chroma_host}_{settings.chroma_port}_{settings.collection}"
    else:
        name = settings.collection
    return settings.data_dir / kind / f"{name}-v{version}"
