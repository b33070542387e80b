"""Opening Chroma: the client (embedded or a server), with a deadline on every server request.

- :func:`make_client`: a ``PersistentClient`` for a data dir, or an ``HttpClient`` for a Chroma
  server whose every request gives up after ``FOLIO_STORE_TIMEOUT_SECONDS`` (chromadb sets none).
- (with :func:`multimodal.retry.retrying`, every call is retried while the server does not answer,
  for ``FOLIO_STORE_RETRY_SECONDS``: so no store call waits longer than the two together.)
- :func:`close_for_good`: close an embedded client so that the next one reads the store from disk.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

import httpx

from multimodal.retry import RetryPolicy, retrying
from multimodal.settings import Settings
from multimodal.store_lock import StoreLock

# The store's generation read just before each embedded client was opened (multimodal.store_lock).
_generation_at_open: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

log = logging.getLogger(__name__)


def store_location(settings: Settings) -> str:
    if settings.uses_server:
        return f"chroma server {settings.chroma_host}:{settings.chroma_port}"
    return str(settings.chroma_path)


def make_client(settings: Settings, retry: RetryPolicy | None = None):
    import chromadb

    if settings.uses_server:
        return retrying(
            connect_to_server,
            settings,
            policy=retry or RetryPolicy.for_settings(settings),
            location=store_location(settings),
            what="connecting",
        )
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    generation = StoreLock(settings.data_dir).generation()  # read first: a later write makes the client stale
    client = chromadb.PersistentClient(path=str(settings.chroma_path))
    _generation_at_open[client] = generation
    return client


def generation_at_open(client: Any) -> int:
    """The store generation an embedded client has seen everything up to (-1: unknown, reopen before use)."""
    return _generation_at_open.get(client, -1)


def connect_to_server(settings: Settings):
    """A ``chromadb.HttpClient`` whose every request gives up after ``store_timeout_seconds``.

    chromadb 1.x builds its httpx session with ``timeout=None`` and offers no setting to change it
    (chroma-core/chroma#5805), and its constructor already talks to the server. So the constructor
    runs in a daemon thread that is abandoned at the deadline, and the session of the client it
    returns gets the timeout: a server that accepts connections but never answers (frozen, SIGSTOP)
    becomes a timed-out request, which :func:`retrying` treats like a refused one.
    """
    import chromadb

    seconds = settings.store_timeout_seconds
    outcome: dict[str, Any] = {}

    def connect() -> None:
        try:
            outcome["client"] = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port)
        except Exception as error:
            outcome["error"] = error

    connecting = threading.Thread(target=connect, daemon=True, name="chroma-connect")
    connecting.start()
    connecting.join(seconds)
    if connecting.is_alive():
        raise httpx.ConnectTimeout(f"no answer within {seconds:g}s")
    if "error" in outcome:
        raise outcome["error"]
    client = outcome["client"]
    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        raise RuntimeError(f"chromadb {chromadb.__version__}: cannot set the HTTP client's timeout")
    session.timeout = httpx.Timeout(seconds)
    return client


def close_for_good(client: Any) -> None:
    """Close an embedded client so that the next one opened on its path reads the store from disk.

    chromadb keeps one ``System`` (with the collections' vector indexes in memory) per path and
    hands it to every client of that path in the process; closing the last client stops it. When
    another client of this process still holds it, it is taken out of the cache (not stopped: its
    holder may still be using it), so the next client gets a fresh one either way.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    identifier = getattr(client, "_identifier", None)
    client.close()
    if identifier is not None:
        SharedSystemClient._identifier_to_system.pop(identifier, None)
