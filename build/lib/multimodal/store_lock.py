"""One embedded store, several processes: a readers–writer lock and a change counter on the data dir.

Chroma's embedded client (``PersistentClient``) loads each collection's vector index into memory
once and never sees what another process writes afterwards: after ``python -m ingest`` wrote into
the directory an app was serving, the app's searches failed with "Error finding id" until it was
restarted. Every process that opens the same data dir therefore follows one protocol on
``DATA_DIR/store.lock``:

- a **writer** (ingest) holds the lock *exclusively* around each committed chunk of writes, then
  bumps the store's **generation**, a counter kept in the lock file itself;
- a **reader** (the app) holds it *shared* around each read; when the generation moved since it
  opened its client, it reopens the client first (under the exclusive lock, so that no read of its
  own process is using the old client while it is closed).

``fcntl.flock`` locks belong to an open file, not to a process: each hold opens the file anew, so
the threads of one process take turns exactly as processes do. A thread that holds the lock
exclusively may read and write without taking it again. A Chroma server needs none of this: the
server is the single owner of its files, and every client talks to it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_FILE = "store.lock"


class StoreLock:
    """The readers–writer lock and generation counter of one data dir (``DATA_DIR/store.lock``)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / LOCK_FILE
        self.path.touch(exist_ok=True)
        self._thread = threading.local()  # .exclusive_fd: this thread's exclusive hold, if any
        if fcntl is None:
            log.warning("no fcntl on this platform: an app and an ingest must not share %s at once", directory)

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    @staticmethod
    def _read(fd: int) -> int:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
        return int(text) if text.isdigit() else 0

    def holds_exclusive(self) -> bool:
        return getattr(self._thread, "exclusive_fd", None) is not None

    def shared(self) -> contextlib.AbstractContextManager[int]:
        """Hold the lock shared (other readers may too; writers wait); yields the generation."""
        return self._hold(exclusive=False)

    def exclusive(self) -> contextlib.AbstractContextManager[int]:
        """Hold the lock alone (re-entrant within a thread); yields the generation."""
        return self._hold(exclusive=True)

    @contextlib.contextmanager
    def _hold(self, exclusive: bool) -> Iterator[int]:
        if self.holds_exclusive():  # a thread that holds it alone may also read and write
            yield self._read(self._thread.exclusive_fd)
            return
        fd = self._open()
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            if exclusive:
                self._thread.exclusive_fd = fd
            yield self._read(fd)
        finally:
            if exclusive:
                self._thread.exclusive_fd = None
            os.close(fd)  # closing the file releases its lock

    def bump(self) -> int:
        """Count one committed change (call while holding the lock exclusively); returns the new generation."""
        fd = getattr(self._thread, "exclusive_fd", None)
        if fd is None:
            raise RuntimeError("StoreLock.bump() needs the exclusive lock")
        generation = self._read(fd) + 1
        os.pwrite(fd, f"{generation:20d}\n".encode("ascii"), 0)  # fixed width: one write, never a torn number
        return generation

    def generation(self) -> int:
        """The current generation, read without waiting (a cheap "did the store change?" check)."""
        fd = self._open()
        try:
            return self._read(fd)
        finally:
            os.close(fd)
