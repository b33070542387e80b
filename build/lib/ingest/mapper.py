"""The mapper: catalog rows → books ready to store.

Per row: validation, cover bytes, content hash. For new or changed books only: image decoding
(in worker threads), the truncated/unreadable/blank-cover checks, perceptual hash, optional OCR;
then, per chunk, encoding (text and image vectors, batched, in the calling thread). A book whose text
is longer than the text encoder reads whole also gets its description's passages embedded, in the
same forwards as the books' texts (``multimodal.passages``).

A cover that cannot be used costs the book its cover vector, never its text: the book is kept,
flagged (``truncated-cover`` when decoded as far as its data goes, ``unreadable-cover``,
``blank-cover``) and searchable by text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ingest.covers import CoverError, CoverFetcher
from ingest.readers import CatalogRow, Rejection
from multimodal.errors import BadImage
from multimodal.fingerprint import phash
from multimodal.images import blank_reason, decode_image
from multimodal.models import Models
from multimodal.passages import PASSAGE_RULE, Passage, passages
from multimodal.records import BLANK_COVER, TRUNCATED_COVER, UNREADABLE_COVER, BookRecord
from multimodal.scorers import CoverReader


@dataclass
class Flag:
    book_id: str
    row: int
    reason: str


@dataclass
class Candidate:
    """A row that passed validation, with what the mapper learns about it."""

    row: int
    record: BookRecord
    cover_bytes: bytes
    prepared: Any = None  # the image encoder's input, made in a worker thread (None: no usable cover)
    is_update: bool = False


@dataclass
class EncodedBook:
    """A book ready for the writer: its record and vectors (no cover vector when the cover is unusable;
    passages only when its text is longer than the text encoder reads whole)."""

    record: BookRecord
    text_vector: np.ndarray
    cover_vector: np.ndarray | None
    is_update: bool
    passages: list[Passage] = field(default_factory=list)
    passage_vectors: np.ndarray | None = None  # one row per passage


def shard_of(book_id: str, count: int) -> int:
    """A book's shard: stable across processes and machines (not Python's salted hash)."""
    return int.from_bytes(hashlib.sha1(book_id.encode()).digest()[:8], "big") % count


class BookMapper:
    def __init__(
        self,
        models: Models,
        covers: CoverFetcher,
        ocr: bool = False,
        shard: tuple[int, int] | None = None,
        with_passages: bool = True,
    ) -> None:
        self.models = models
        self.covers = covers
        self.ocr = ocr
        self.shard = shard
        self.with_passages = with_passages
        self.cover_reader: CoverReader | None = None
        if ocr:
            self.cover_reader = models.cover_reader or CoverReader()
        self.seen: dict[str, int] = {}  # book id → first row, to refuse duplicates
        self.catalog_ids: set[str] = set()  # every id the catalog names, rejected or not: --prune keeps them
        self.rejected: list[Rejection] = []
        self.flagged: list[Flag] = []  # appended from worker threads (list.append is atomic)
        self.unchanged = 0
        self.phashes: dict[str, str] = {}  # perceptual hash → first book with it
        self.duplicate_covers: list[tuple[str, str]] = []

    # -- per row ------------------------------------------------------------------------------
    def validate(self, row: CatalogRow) -> Candidate | Rejection | None:
        """A candidate book, a rejection with its reason, or None for another shard's row."""
        book_id = row.book_id
        self.catalog_ids.add(book_id)
        if self.shard and shard_of(book_id, self.shard[1]) != self.shard[0]:
            return None
        if not row.get("title"):
            return Rejection(row.row, book_id, "title", "missing title")
        if book_id in self.seen:
            return Rejection(row.row, book_id, "id", f"duplicate id: first seen at row {self.seen[book_id]}")
        self.seen[book_id] = row.row
        if not row.get("cover"):
            return Rejection(row.row, book_id, "cover", "missing cover: no path or URL given")
        try:
            cover_bytes = self.covers.fetch(row.get("cover"))
            location = self.covers.locate(row.get("cover"))
        except CoverError as error:
            return Rejection(row.row, book_id, "cover", str(error))
        record = BookRecord(
            book_id=book_id,
            title=row.get("title"),
            author=row.get("author"),
            description=row.get("description"),
            year=row.year,
            genre=row.get("genre").lower(),
            isbn=row.get("isbn"),
            cover=location,
            subjects=row.get("subjects"),
            publisher=row.get("publisher"),
        )
        record.content_hash = self.content_hash(record, cover_bytes)
        return Candidate(row.row, record, cover_bytes)

    def content_hash(self, record: BookRecord, cover_bytes: bytes) -> str:
        """What decides whether a stored book is current: models, options (passages: the rule that made
        them), text fields and cover bytes."""
        fields = [record.title, record.author, record.description, record.year, record.genre, record.isbn]
        if record.subjects or record.publisher:  # (only then: stores of catalogs without them stay current)
            fields += [record.subjects, record.publisher]
        passage_rule = PASSAGE_RULE if self.with_passages else "none"
        digest = hashlib.sha256(f"{self.models.identity}|ocr={self.ocr}|{passage_rule}|{json.dumps(fields)}|".encode())
        digest.update(cover_bytes)
        return digest.hexdigest()

    def decode(self, candidate: Candidate) -> Candidate:
        """Decode the cover (in a worker thread); an unusable cover is flagged and leaves no image."""
        try:
            decoded = decode_image(candidate.cover_bytes, purpose="ingest")
        except BadImage as error:
            return self.flag(candidate, UNREADABLE_COVER, f"unreadable cover: {error}")
        if decoded.truncated:
            self.flag(candidate, TRUNCATED_COVER, "truncated cover (decoded as far as its data goes)")
        reason = blank_reason(decoded.image)
        if reason:
            return self.flag(candidate, BLANK_COVER, reason)
        candidate.prepared = self.models.image_encoder.prepare(decoded.image)
        candidate.record.phash = phash(decoded.image)
        if self.cover_reader is not None:
            candidate.record.cover_text = self.cover_reader.read(decoded.image)
        return candidate

    def flag(self, candidate: Candidate, flag: str, reason: str) -> Candidate:
        candidate.record.flags.append(flag)
        self.flagged.append(Flag(candidate.record.book_id, candidate.row, reason))
        return candidate

    # -- per chunk ----------------------------------------------------------------------------
    def select(
        self, chunk: list[CatalogRow | Rejection], stored_hashes: Callable[[list[str]], dict[str, str]]
    ) -> list[Candidate]:
        """The chunk's new or changed books; rejections are kept, unchanged books counted and skipped."""
        candidates: list[Candidate] = []
        for item in chunk:
            outcome = self.validate(item) if isinstance(item, CatalogRow) else item
            if isinstance(outcome, Rejection):
                self.rejected.append(outcome)
            elif outcome is not None:
                candidates.append(outcome)
        stored = stored_hashes([c.record.book_id for c in candidates])
        todo = [c for c in candidates if stored.get(c.record.book_id) != c.record.content_hash]
        self.unchanged += len(candidates) - len(todo)
        for candidate in todo:
            candidate.is_update = candidate.record.book_id in stored
        return todo

    def decode_all(self, todo: list[Candidate], pool: ThreadPoolExecutor) -> list[Candidate]:
        """The covers of ``todo`` decoded in the pool's threads."""
        ready = list(pool.map(self.decode, todo))
        for candidate in ready:
            self.note_duplicate(candidate.record)
        return ready

    def note_duplicate(self, record: BookRecord) -> None:
        if not record.phash:
            return
        if record.phash in self.phashes:
            self.duplicate_covers.append((self.phashes[record.phash], record.book_id))
        else:
            self.phashes[record.phash] = record.book_id

    def passages_of(self, record: BookRecord) -> list[Passage]:
        return passages(record, self.models.text_encoder.window_tokens) if self.with_passages else []

    def encode(self, ready: list[Candidate]) -> list[EncodedBook]:
        """Text vectors for every book and its passages (in the same batched forwards), cover vectors for
        those with a usable cover."""
        book_passages = [self.passages_of(c.record) for c in ready]
        passage_texts = [passage.text for found in book_passages for passage in found]
        vectors = self.models.text_encoder.encode_texts([c.record.document for c in ready] + passage_texts)
        text_vectors, passage_vectors = vectors[: len(ready)], vectors[len(ready) :]
        with_cover = [c for c in ready if c.prepared is not None]
        image_vectors = iter(self.models.image_encoder.encode_prepared([c.prepared for c in with_cover]))
        books, start = [], 0
        for c, text_vector, found in zip(ready, text_vectors, book_passages, strict=True):
            cover_vector = next(image_vectors) if c.prepared is not None else None
            mine = passage_vectors[start : start + len(found)]
            books.append(EncodedBook(c.record, text_vector, cover_vector, c.is_update, found, mine))
            start += len(found)
        return books
