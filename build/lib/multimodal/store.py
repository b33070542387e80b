"""The book store: three Chroma collections keyed by the same book id.

- ``<name>_texts``: one vector per book for its text (title, author, description), the text
  as the document and the book's metadata. Written *last* for a book, with the book's content
  hash: a book counts as stored only when its text record carries the current hash, so an ingest
  killed between the writes is redone, never half-kept.
- ``<name>_covers``: one vector per book for its cover (absent for blank or missing covers).
- ``<name>_passages``: vectors of the passages of long descriptions (``multimodal.passages``: ids
  ``<book id>#p<n>``, metadata ``book_id`` and the filter fields), written before the book's text
  record and deleted with the book. The text record keeps the book's passage count (``passages``), so a
  search reads a book's passages by id. Created by the first write that has passages: a store built
  before passages existed has none, and reading it creates nothing.

All are created with cosine space, explicit embeddings (``embedding_function=None``) and an
``ef_search`` of at least the shortlist size. The profile and model identity that built the
vectors are kept in the collections' metadata; opening a store with other models is refused.
The same code runs on an embedded ``PersistentClient`` or a Chroma server (``HttpClient``).

An embedded store may be shared by several processes (the app serving it while ``python -m ingest``
writes into it): reads hold ``DATA_DIR/store.lock`` shared and reopen the client when another process
committed writes since it was opened; writes hold it exclusively and count each committed chunk
(:mod:`multimodal.store_lock`). A Chroma server is the single owner of its data and needs no lock.

Every Chroma call goes through :func:`multimodal.retry.retrying`: a server that does not answer
(refused, reset, or silent past ``FOLIO_STORE_TIMEOUT_SECONDS``) is retried with back-off for
``FOLIO_STORE_RETRY_SECONDS``, then :class:`~multimodal.errors.StoreUnavailable` is raised. Only
connection-type errors are retried; every write is an idempotent upsert or delete, so a retried
call cannot duplicate a book.

(Over 400 lines on purpose: each read and write sits next to the lock it needs; the client, the
lock and the retries live in store_client.py, store_lock.py and retry.py.)
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from multimodal.chroma_server import heartbeat
from multimodal.errors import StoreMismatch, StoreUnavailable
from multimodal.passages import Passage, book_of, passage_id
from multimodal.records import BookRecord, SearchFilters, fold
from multimodal.retry import RetryPolicy, retrying
from multimodal.settings import Settings
from multimodal.store_client import close_for_good, generation_at_open, make_client, store_location
from multimodal.store_lock import StoreLock

__all__ = ["BookStore", "StoreInfo", "StoredBook", "make_client", "recorded_profile", "store_exists"]

SCHEMA_VERSION = 1
# HNSW index parameters. With Chroma's defaults (16 links, ef 100) the top-50 shortlist recalled only
# 0.72 of the exact top 50 at 100,000 clustered vectors; 32 links, ef_construction 400 and ef_search
# 1,600 recalled 0.998 (benchmarks/vector_recall.py, docs/performance.md). Links and construction
# apply to new collections (ingest --rebuild); ef_search also to existing ones.
HNSW_MAX_NEIGHBORS = 32
HNSW_EF_CONSTRUCTION = 400
HNSW_EF_SEARCH = 1600
# How many records Chroma takes before it writes the vector index to disk (its default: 1,000). A
# process that opens the store (the app reopening after an ingest chunk) replays the records written
# since from the log: at 10,000 books the first search after a chunk took 17.4 s with the default and
# 0.3 s with 128 (one ingest chunk), for 14 % more time writing the books (benchmarks/store_reopen.py,
# docs/reliability.md). Applies to existing collections too.
HNSW_SYNC_THRESHOLD = 128
Channel = str  # "texts", "covers" or "passages"
PASSAGES_KEY = "passages"  # a book's passage count, on its text record (absent: none)
PASSAGES_ASKED_PER_BOOK = 4  # a search for n books asks for this many times n passages, then keeps each book's best
T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass
class StoredBook:
    record: BookRecord
    text_vector: np.ndarray | None
    cover_vector: np.ndarray | None
    passage_vectors: np.ndarray | None = None  # one row per passage; None: not read, or no passages

    def similarity(self, channel: Channel, vector: np.ndarray) -> float | None:
        """The cosine of a query vector with this book's vector on a channel (its best passage for
        "passages"), or None when the book has no vector there (a blank cover, a short description)."""
        stored = {"texts": self.text_vector, "covers": self.cover_vector, "passages": self.passage_vectors}[channel]
        if stored is None or not len(stored):
            return None
        return float(np.max(np.atleast_2d(stored) @ vector))


@dataclass(frozen=True)
class StoreInfo:
    profile: str
    identity: str
    books: int
    covers: int
    updated: float | None
    location: str
    passages: int = 0


def store_exists(settings: Settings) -> bool:
    """False only for an embedded store whose folder is not there (a server is asked when opened)."""
    return settings.uses_server or settings.chroma_path.exists()


def recorded_profile(settings: Settings, client: Any = None) -> str | None:
    """The profile that built the store in settings, or None when there is no store yet.

    Pass the ``client`` the store will be opened with, so that reading the profile opens no other one.
    """
    if client is None and not store_exists(settings):
        return None
    policy = RetryPolicy.for_settings(settings)
    own_client = client is None
    client = client or make_client(settings, policy)
    try:
        collection = retrying(
            client.get_collection,
            f"{settings.collection}_texts",
            policy=policy,
            location=store_location(settings),
            what="reading the store's profile",
        )
    except StoreUnavailable:
        raise
    except Exception:
        return None
    finally:
        if own_client:
            client.close()  # an embedded client left open keeps this process's view of the store from refreshing
    return (collection.metadata or {}).get("folio_profile")


def filters_where(filters: SearchFilters, folded: bool) -> dict[str, Any] | None:
    """The Chroma ``where`` clause of search filters.

    ``folded``: the store's records carry case-folded genre/author copies (stores created since they
    were added), so the match is case-insensitive; an older store matches them exactly.
    """
    clauses: list[dict[str, Any]] = []
    for name in SearchFilters.FOLDED:
        value = getattr(filters, name)
        if value:
            clauses.append({f"{name}_folded": fold(value)} if folded else {name: value})
    if filters.year_min is not None:
        clauses.append({"year": {"$gte": filters.year_min}})
    if filters.year_max is not None:
        clauses.append({"year": {"$lte": filters.year_max}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class BookStore:
    def __init__(
        self, settings: Settings, profile: str, identity: str, client: Any = None, retry: RetryPolicy | None = None
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.identity = identity
        self.retry = retry or RetryPolicy.for_settings(settings)
        self.location = store_location(settings)
        # An embedded store is guarded against other processes; a server guards its own data.
        self.lock = None if settings.uses_server else StoreLock(settings.data_dir)
        with self.lock.exclusive() if self.lock else contextlib.nullcontext(0) as generation:
            self.client = client or make_client(settings, self.retry)
            self._open_collections()
            # The store's generation this client has seen: a client opened before another process's
            # last write is reopened before its first read.
            self.generation_seen = generation if client is None else generation_at_open(client)
        self.max_batch = self._call("reading the batch size", self.client.get_max_batch_size)

    def _call(self, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One Chroma call, retried while the store is unreachable (then StoreUnavailable)."""
        return retrying(call, *args, policy=self.retry, location=self.location, what=what, **kwargs)

    # -- sharing an embedded store with other processes ------------------------------------------
    def generation(self) -> int:
        """A number that changes whenever a write is committed to this store (by any process).

        In-memory indexes built from the store (titles, full text) compare it to refresh. For a
        Chroma server, which counts nothing for us, it is the book count.
        """
        return self.lock.generation() if self.lock else self.count()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Hold the store for reading, with a client that has seen every committed write."""
        if self.lock is None:
            yield
            return
        while True:
            with self.lock.shared() as generation:
                if generation == self.generation_seen:
                    yield
                    return
            self._reopen()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the store alone for a set of writes, then count them as one committed change."""
        if self.lock is None:
            yield
            return
        with self.lock.exclusive() as generation:
            if generation != self.generation_seen:
                self._reopen_client(generation)
            try:
                yield
            finally:  # also after a failure: some of the writes may have landed
                self.generation_seen = self.lock.bump()

    def _reopen(self) -> None:
        assert self.lock is not None
        with self.lock.exclusive() as generation:  # no read of this process uses the old client now
            if generation != self.generation_seen:  # another thread may have reopened it meanwhile
                self._reopen_client(generation)

    def _reopen_client(self, generation: int) -> None:
        """A fresh client: Chroma's embedded client never sees what other processes wrote after it opened."""
        started = time.perf_counter()
        close_for_good(self.client)
        self.client = make_client(self.settings, self.retry)
        self._open_collections()
        self.generation_seen = generation
        milliseconds = 1e3 * (time.perf_counter() - started)
        log.info("reopened %s at generation %d in %.0f ms", self.location, generation, milliseconds)

    def close(self) -> None:
        """Release the client (an embedded store's files and memory)."""
        self.client.close()

    def ping(self, deadline: float) -> None:
        """Raise StoreUnavailable unless the store answers within ``deadline`` seconds.

        A Chroma server must answer its heartbeat in time; an embedded store is a local file (its
        reads wait at most for one ingest chunk's writes) and counts as reachable.
        """
        host = self.settings.chroma_host
        if host and not heartbeat(host, self.settings.chroma_port, timeout=deadline):
            raise StoreUnavailable(
                f"store unreachable: {self.location} did not answer its heartbeat within {deadline:g}s"
            )

    # -- opening ----------------------------------------------------------------------------
    def _open_collections(self) -> None:
        self.texts = self._open(f"{self.settings.collection}_texts")
        self.covers = self._open(f"{self.settings.collection}_covers")
        self.passages = self._open_if_there(f"{self.settings.collection}_passages")
        self.folded_filters = bool((self.texts.metadata or {}).get("folio_folded_filters"))

    def _open(self, name: str):
        ef_search = max(HNSW_EF_SEARCH, 2 * self.settings.shortlist)
        try:
            collection = self._call(f"opening {name}", self.client.get_collection, name, embedding_function=None)
        except StoreUnavailable:
            raise
        except Exception:  # chromadb raises NotFoundError (or ValueError in older clients)
            return self._create(name, ef_search)
        self._check_identity(name, collection.metadata or {})
        hnsw = (collection.configuration or {}).get("hnsw") or {}
        changes: dict[str, int] = {}
        if (hnsw.get("ef_search") or 0) < self.settings.shortlist:
            changes["ef_search"] = ef_search
        if (hnsw.get("sync_threshold") or 1000) > HNSW_SYNC_THRESHOLD:
            changes["sync_threshold"] = HNSW_SYNC_THRESHOLD
        if changes:
            self._call(f"configuring {name}", collection.modify, configuration={"hnsw": changes})
        return collection

    def _open_if_there(self, name: str):
        """A collection that only writes create (passages): None when the store has none yet."""
        try:
            self._call(f"looking for {name}", self.client.get_collection, name, embedding_function=None)
        except StoreUnavailable:
            raise
        except Exception:
            return None
        return self._open(name)

    def _create(self, name: str, ef_search: int):
        try:
            return self._call(
                f"creating {name}",
                self.client.create_collection,
                name,
                configuration={
                    "hnsw": {
                        "space": "cosine",
                        "max_neighbors": HNSW_MAX_NEIGHBORS,
                        "ef_construction": HNSW_EF_CONSTRUCTION,
                        "ef_search": ef_search,
                        "sync_threshold": HNSW_SYNC_THRESHOLD,
                    }
                },
                metadata={
                    "folio_schema": SCHEMA_VERSION,
                    "folio_profile": self.profile,
                    "folio_identity": self.identity,
                    "folio_folded_filters": True,  # records carry genre_folded/author_folded
                },
                embedding_function=None,
            )
        except StoreUnavailable:
            raise
        except Exception:
            # Another worker (``ingest --shard``) created it first: use theirs, if it is ours.
            collection = self._call(f"opening {name}", self.client.get_collection, name, embedding_function=None)
            self._check_identity(name, collection.metadata or {})
            return collection

    def _check_identity(self, name: str, metadata: dict[str, Any]) -> None:
        schema = metadata.get("folio_schema")
        stored = metadata.get("folio_identity")
        if schema == SCHEMA_VERSION and stored == self.identity:
            return
        stored_profile = metadata.get("folio_profile", "?")
        raise StoreMismatch(
            f"The store at {self.location} (collection {name!r}) was built by profile {stored_profile!r} "
            f"with models {stored!r} (schema {schema}); this run uses profile {self.profile!r} "
            f"with models {self.identity!r} (schema {SCHEMA_VERSION}).\n"
            f"Vectors from different models cannot be compared. Either use profile {stored_profile!r} "
            f"(--profile {stored_profile} or FOLIO_PROFILE={stored_profile}), or re-embed the catalog "
            f"with these models: `python -m ingest CATALOG --rebuild` (drops this store's vectors first), "
            f"or keep both by choosing another --collection / FOLIO_COLLECTION."
        )

    @staticmethod
    def drop(settings: Settings, client: Any = None) -> None:
        """Delete this store's collections (used by ``ingest --rebuild``)."""
        policy = RetryPolicy.for_settings(settings)
        lock = None if settings.uses_server else StoreLock(settings.data_dir)
        own_client = client is None
        with lock.exclusive() if lock else contextlib.nullcontext():
            client = client or make_client(settings, policy)
            try:
                for suffix in ("_texts", "_covers", "_passages"):
                    name = f"{settings.collection}{suffix}"
                    try:
                        retrying(
                            client.delete_collection,
                            name,
                            policy=policy,
                            location=store_location(settings),
                            what="dropping",
                        )
                    except StoreUnavailable:
                        raise
                    except Exception:  # it did not exist
                        pass
            finally:
                if own_client:
                    client.close()
                if lock:
                    lock.bump()

    # -- writing ----------------------------------------------------------------------------
    def _batches(self, size: int) -> Iterator[slice]:
        for start in range(0, size, self.max_batch):
            yield slice(start, start + self.max_batch)

    def write(
        self,
        books: Sequence[BookRecord],
        text_vectors: np.ndarray,
        cover_vectors: Sequence[np.ndarray | None],
        passages: Sequence[Passage] = (),
        passage_vectors: np.ndarray | None = None,
    ) -> None:
        """Store books: cover vectors first, then their passages, text records (which carry the content hash) last.

        A book written again is replaced, not merged: its stored record equals a clean ingest's, and
        its old passages are deleted before its new ones are written. One call is one committed
        change: other processes' readers wait for all of it, then reopen.
        """
        with self._writing():
            self._write(books, text_vectors, cover_vectors, passages, passage_vectors)

    def _write(
        self,
        books: Sequence[BookRecord],
        text_vectors: np.ndarray,
        cover_vectors: Sequence[np.ndarray | None],
        passages: Sequence[Passage] = (),
        passage_vectors: np.ndarray | None = None,
    ) -> None:
        with_cover = [i for i, vector in enumerate(cover_vectors) if vector is not None]
        without_cover = [books[i].book_id for i, vector in enumerate(cover_vectors) if vector is None]
        for part in self._batches(len(with_cover)):
            chosen = with_cover[part]
            ids = [books[i].book_id for i in chosen]
            self._call(
                "writing cover vectors",
                self.covers.upsert,
                ids=ids,
                embeddings=np.stack([cover_vectors[i] for i in chosen]),
                metadatas=self._replacing(self.covers, ids, [books[i].filter_metadata() for i in chosen]),
            )
        if without_cover:
            self._call("removing cover vectors", self.covers.delete, ids=without_cover)
        self._write_passages(books, passages, passage_vectors)
        counts = Counter(passage.book_id for passage in passages)  # kept on the text record: passages read by id
        for part in self._batches(len(books)):
            chunk = books[part]
            ids = [book.book_id for book in chunk]
            metadatas = [book.metadata() | ({PASSAGES_KEY: counts[book.book_id]} if counts[book.book_id] else {})
                         for book in chunk]  # fmt: skip
            self._call(
                "writing book records",
                self.texts.upsert,
                ids=ids,
                embeddings=np.asarray(text_vectors[part]),
                metadatas=self._replacing(self.texts, ids, metadatas),
                documents=[book.document for book in chunk],
            )

    def _write_passages(
        self, books: Sequence[BookRecord], passages: Sequence[Passage], vectors: np.ndarray | None
    ) -> None:
        """Replace the books' passages: the old ones deleted (a changed description may have fewer), the new written."""
        if self.passages is None:
            if not passages:
                return
            self.passages = self._open(f"{self.settings.collection}_passages")  # created by this first write
        self._delete_passages([book.book_id for book in books])
        filters = {book.book_id: book.filter_metadata() for book in books}
        for part in self._batches(len(passages)):
            chunk = passages[part]
            self._call(
                "writing passage vectors",
                self.passages.upsert,
                ids=[passage.passage_id for passage in chunk],
                embeddings=np.asarray(vectors[part]),
                metadatas=[{"book_id": passage.book_id, **filters[passage.book_id]} for passage in chunk],
            )

    def _delete_passages(self, book_ids: Sequence[str]) -> None:
        if self.passages is None:
            return
        for part in self._batches(len(book_ids)):
            where = {"book_id": {"$in": list(book_ids[part])}}
            self._call("deleting passages", self.passages.delete, where=where)

    def _replacing(self, collection: Any, ids: list[str], metadatas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``metadatas`` plus ``None`` for every stored key they lack: Chroma merges metadata on upsert,
        and removes a key set to None, so an emptied author or a cleared flag does not linger."""
        got = self._call("reading stored metadata", collection.get, ids=ids, include=["metadatas"])
        stored = {book_id: metadata or {} for book_id, metadata in zip(got["ids"], got["metadatas"], strict=True)}
        return [dict.fromkeys(stored.get(book_id, {}), None) | new for book_id, new in zip(ids, metadatas, strict=True)]

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._writing():
            self._delete_passages(ids)  # first: a book's passages never outlive its record
            for part in self._batches(len(ids)):
                self._call("deleting books", self.texts.delete, ids=list(ids[part]))
                self._call("deleting books", self.covers.delete, ids=list(ids[part]))

    def touch(self) -> None:
        """Record the time of the last ingest."""
        with self._writing():
            metadata = dict(self.texts.metadata or {})
            metadata["folio_updated"] = time.time()
            self._call("recording the ingest time", self.texts.modify, metadata=metadata)

    # -- reading ----------------------------------------------------------------------------
    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        hashes: dict[str, str] = {}
        for part in self._batches(len(ids)):
            with self._reading():
                got = self._call("reading content hashes", self.texts.get, ids=list(ids[part]), include=["metadatas"])
            for book_id, metadata in zip(got["ids"], got["metadatas"], strict=True):
                hashes[book_id] = str((metadata or {}).get("content_hash", ""))
        return hashes

    def all_ids(self) -> list[str]:
        ids: list[str] = []
        page = self.max_batch
        while True:
            with self._reading():
                got = self._call("listing books", self.texts.get, include=[], limit=page, offset=len(ids))
            ids.extend(got["ids"])
            if len(got["ids"]) < page:
                return ids

    def iter_records(self, page: int | None = None) -> Iterator[BookRecord]:
        page = page or self.max_batch  # few, large pages: each page's offset is skipped again
        offset = 0
        while True:
            records = self.page(offset, page)
            yield from records
            if len(records) < page:
                return
            offset += page

    def where(self, filters: SearchFilters) -> dict[str, Any] | None:
        return filters_where(filters, self.folded_filters)

    def page(self, offset: int, limit: int, filters: SearchFilters | None = None) -> list[BookRecord]:
        """Up to ``limit`` books from ``offset`` on, in the store's order, that pass ``filters``."""
        where = self.where(filters) if filters else None
        with self._reading():
            got = self._call(
                "reading books", self.texts.get, include=["metadatas"], limit=limit, offset=offset, where=where
            )
        return [
            BookRecord.from_metadata(book_id, metadata or {})
            for book_id, metadata in zip(got["ids"], got["metadatas"], strict=True)
        ]

    def count(self) -> int:
        with self._reading():
            return self._call("counting books", self.texts.count)

    def nearest(
        self, channel: Channel, vector: np.ndarray, n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """The n nearest books on one channel, as (book id, cosine similarity), best first.

        On "passages", the nearest passages folded to their books: each book at its best passage.
        """
        return self.nearest_each(channel, [vector], n, where)[0]

    def nearest_each(
        self, channel: Channel, vectors: Sequence[np.ndarray], n: int, where: dict[str, Any] | None = None
    ) -> list[list[tuple[str, float]]]:
        """``nearest`` for each of several vectors, in one search of the store (a photo's candidate regions)."""
        if n <= 0 or not len(vectors):
            return [[] for _ in vectors]
        by_passage = channel == "passages"
        with self._reading():
            collection = {"texts": self.texts, "covers": self.covers, "passages": self.passages}[channel]
            if collection is None:  # a store without passages
                return [[] for _ in vectors]
            got = self._call(  # Chroma returns what there is when the collection holds fewer than n
                "searching",
                collection.query,
                query_embeddings=list(vectors),
                n_results=n * PASSAGES_ASKED_PER_BOOK if by_passage else n,
                where=where,
                include=["distances"],
            )
        each = []
        for ids, distances in zip(got["ids"], got["distances"], strict=True):
            found = [(item, 1.0 - float(distance)) for item, distance in zip(ids, distances, strict=False)]
            if by_passage:
                best: dict[str, float] = {}
                for passage, similarity in found:
                    best.setdefault(book_of(passage), similarity)
                found = list(best.items())[:n]
            each.append(found)
        return each

    def fetch(self, ids: Sequence[str], with_vectors: bool = True) -> dict[str, StoredBook]:
        """The stored books of ``ids`` (the unknown ones are left out), with all their vectors or none."""
        wanted = dict.fromkeys(("texts", "covers", "passages"), ids) if with_vectors else {}
        return self.read_candidates(ids, wanted)

    def read_candidates(
        self,
        ids: Sequence[str],
        vectors_for: Mapping[Channel, Collection[str]],
        where: dict[str, Any] | None = None,
    ) -> dict[str, StoredBook]:
        """The records of ``ids`` that pass ``where``, with only the vectors asked for (by channel: which books).

        A search already knows the similarity of each book a channel returned; it reads vectors
        only for the books that channel did not return. Chroma's cost grows with every record
        and vector read, so this is most of what merging candidates costs.
        """
        if not ids:
            return {}
        with self._reading():  # records and vectors from one state of the store
            got = self._call("reading books", self.texts.get, ids=list(ids), where=where, include=["metadatas"])
            admitted = set(got["ids"])

            def wanted(channel: Channel) -> list[str]:
                return sorted(admitted.intersection(vectors_for.get(channel, ())))

            text_vectors = self._vectors(self.texts, wanted("texts"))
            cover_vectors = self._vectors(self.covers, wanted("covers"))
            counts = {
                book_id: int((metadata or {}).get(PASSAGES_KEY, 0))
                for book_id, metadata in zip(got["ids"], got["metadatas"], strict=True)
            }
            passage_vectors = self._passage_vectors({book_id: counts[book_id] for book_id in wanted("passages")})
        return {
            book_id: StoredBook(
                BookRecord.from_metadata(book_id, metadata or {}),
                text_vectors.get(book_id),
                cover_vectors.get(book_id),
                passage_vectors.get(book_id),
            )
            for book_id, metadata in zip(got["ids"], got["metadatas"], strict=True)
        }

    def _vectors(self, collection: Any, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self._call("reading vectors", collection.get, ids=ids, include=["embeddings"])
        embeddings = got.get("embeddings")
        if embeddings is None:
            return {}
        return {book_id: np.asarray(vector, np.float32) for book_id, vector in zip(got["ids"], embeddings, strict=True)}

    def _passage_vectors(self, counts: dict[str, int]) -> dict[str, np.ndarray]:
        """Each book's passage vectors (one row per passage), from its passage count; books without are left out.

        Read by id (``<book id>#p<n>``): reading by the ``book_id`` metadata took 33 ms for 120 books
        on italian-covers, by id 2 ms."""
        ids = [passage_id(book_id, index) for book_id, count in counts.items() for index in range(count)]
        if self.passages is None or not ids:
            return {}
        rows: dict[str, list[np.ndarray]] = {}
        for part in self._batches(len(ids)):
            got = self._call("reading passage vectors", self.passages.get, ids=ids[part], include=["embeddings"])
            for found, vector in zip(got["ids"], got["embeddings"], strict=True):
                rows.setdefault(book_of(found), []).append(np.asarray(vector, np.float32))
        return {book_id: np.stack(vectors) for book_id, vectors in rows.items()}

    def info(self) -> StoreInfo:
        with self._reading():
            return StoreInfo(
                profile=self.profile,
                identity=self.identity,
                books=self._call("counting books", self.texts.count),
                covers=self._call("counting cover vectors", self.covers.count),
                updated=(self.texts.metadata or {}).get("folio_updated"),
                location=self.location,
                passages=self._call("counting passages", self.passages.count) if self.passages is not None else 0,
            )
