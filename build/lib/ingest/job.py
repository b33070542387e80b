"""The batch ingest job, as clip-retrieval does it: reader → mapper → writer, each stage timed.

- reader (``ingest.readers.CatalogReader``): catalog rows, streamed, in any of the usual encodings;
- mapper (``ingest.mapper.BookMapper``): per row, validation, cover bytes, content hash; for new or
  changed books only, image decoding (in worker threads), cover checks, perceptual hash, optional
  OCR; then, per chunk, encoding — the text and image vectors;
- writer (``ingest.writer.BookWriter``): Chroma upserts, cover vector first and the text record
  with the content hash last; then the guarded prune.

Reading, mapping and decoding the next chunks run in a background thread while this one encodes
and writes. A book whose content hash (cover bytes + text fields + model identity) is already
stored is skipped without decoding or embedding, so a rerun — after a change, a crash or
``kill -9`` — does only the work that is left.
"""

from __future__ import annotations

import codecs
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from queue import Queue

from tqdm import tqdm

from ingest.covers import DOWNLOAD_SECONDS, CoverFetcher
from ingest.mapper import BookMapper, Candidate, Flag, shard_of
from ingest.readers import CatalogReader, ColumnMap, Rejection
from ingest.writer import PRUNE_LIMIT, BookWriter, PrunePlan
from multimodal.images import release_free_memory
from multimodal.models import Models
from multimodal.store import BookStore
from multimodal.timing import Timer

__all__ = ["IngestJob", "IngestOptions", "IngestSummary", "shard_of"]

# Exit codes of ``python -m ingest`` (IngestSummary.exit_code and the CLI).
EXIT_ALL_LANDED = 0
EXIT_COULD_NOT_RUN = 2  # bad arguments, no catalog, no models, or a refused prune (what landed is kept)
EXIT_SOME_REJECTED = 3  # the rest landed; the rejects report says why each row was refused
EXIT_STORE_UNREACHABLE = 4  # what was written is kept; rerunning the same command resumes


@dataclass
class IngestOptions:
    catalog: Path
    images_dir: Path | None = None
    columns: ColumnMap = field(default_factory=ColumnMap)
    encoding: str | None = None  # the catalog's encoding when it is not UTF-8 (else detected)
    ocr: bool = False
    passages: bool = True  # embed the passages of descriptions longer than the text vector reads (multimodal.passages)
    prune: bool = False
    prune_limit: float = PRUNE_LIMIT  # the largest share of the store a prune removes without force
    force: bool = False
    shard: tuple[int, int] | None = None  # (index, count): this worker's share of the catalog
    rejects_path: Path | None = None
    workers: int = 4
    chunk_size: int = 128
    allow_outside: bool = False
    allow_private_urls: bool = False
    download_seconds: float = DOWNLOAD_SECONDS
    cache_dir: Path = Path(".folio/cover-cache")
    progress: bool = True

    def __post_init__(self) -> None:
        if self.prune and self.shard:
            raise ValueError("--prune needs the whole catalog; it cannot be combined with --shard")
        if self.encoding:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"--encoding {self.encoding}: not an encoding Python knows") from None
        if not 0 <= self.prune_limit <= 1:
            raise ValueError(f"--prune-limit is a share of the store between 0 and 1, not {self.prune_limit}")


@dataclass
class IngestSummary:
    ingested: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    flagged: list[Flag] = field(default_factory=list)
    duplicate_covers: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader had to guess (encoding, delimiter); advice
    thin: int = 0  # books written with neither an author nor a description (titles only)
    prune: PrunePlan | None = None
    seconds: Counter = field(default_factory=Counter)

    @property
    def exit_code(self) -> int:
        """0: every row landed; 2: the prune was refused; 3: some rows were rejected (the rest landed)."""
        if self.prune is not None and self.prune.refusal:
            return EXIT_COULD_NOT_RUN
        return EXIT_SOME_REJECTED if self.rejected else EXIT_ALL_LANDED

    def report(self) -> str:
        lines = [
            f"ingested {self.ingested} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.rejected)} rejected, {len(self.flagged)} flagged"
            + (f", {self.pruned} pruned" if self.pruned else ""),
        ]
        lines += [f"  note: {note}" for note in self.notes]
        reasons = Counter(rejection.reason.split(":")[0] for rejection in self.rejected)
        lines += [f"  rejected ({count}): {reason}" for reason, count in reasons.most_common()]
        flags = Counter(flag.reason.split(":")[0] for flag in self.flagged)
        lines += [f"  flagged, kept searchable by text ({count}): {reason}" for reason, count in flags.items()]
        if self.duplicate_covers:
            shown = ", ".join(f"{a} = {b}" for a, b in self.duplicate_covers[:5])
            lines.append(f"  identical-looking covers ({len(self.duplicate_covers)}): {shown}")
        if self.prune is not None and self.prune.refusal:
            lines.append(f"  prune refused: {self.prune.refusal}")
            lines.append(f"  would have removed ({len(self.prune.gone)}): {self.prune.listing()}")
        elif self.pruned:
            lines.append(f"  pruned ({self.pruned}): {self.prune.listing() if self.prune else ''}")
        timing = ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in self.seconds.items())
        lines.append(f"  time by stage: {timing}")
        return "\n".join(lines)


BACKGROUND_NICENESS = 10
# A catalog whose books are mostly titles alone (genre-covers: no author, no description) is told that --ocr stores
# each cover's words with its book: on genre-covers' held-out scene photos it read "Agatha Christie" as an author,
# not as the catalog's "Christine" (docs/evaluation.md, session 8).
THIN_SHARE = 0.5


def run_in_background() -> None:
    """Lower the calling thread's scheduling priority (Linux schedules threads one by one).

    Reading and decoding overlap the model's forwards; at normal priority they take cores from
    the model's OpenMP threads, which then wait for one another at every layer. At a lower
    priority they use what the model leaves idle. Where threads have no priority of their own,
    nothing changes.
    """
    with suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)


def prefetch(items: Iterator, depth: int) -> Iterator:
    """Iterate over ``items`` produced ahead in a background thread, at most ``depth`` in waiting.

    The bounded queue keeps memory flat however long the catalog; an error in the producer is
    raised here, in the consumer.
    """
    queue: Queue = Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        run_in_background()
        try:
            for item in items:
                queue.put((item, None))
        except BaseException as error:  # handed to the consumer
            queue.put((done, error))
            return
        queue.put((done, None))

    threading.Thread(target=produce, daemon=True, name="ingest-reader").start()
    while True:
        item, error = queue.get()
        if item is done:
            if error is not None:
                raise error
            return
        yield item


class IngestJob:
    def __init__(self, models: Models, store: BookStore, options: IngestOptions) -> None:
        self.options = options
        self.timer = Timer()
        self.reader = CatalogReader(options.catalog, options.columns, options.encoding)
        roots = [options.images_dir] if options.images_dir else []
        roots.append(options.catalog if options.catalog.is_dir() else options.catalog.parent)
        covers = CoverFetcher(
            roots,
            options.cache_dir,
            options.allow_outside,
            download_seconds=options.download_seconds,
            allow_private_urls=options.allow_private_urls,
        )
        self.mapper = BookMapper(models, covers, options.ocr, options.shard, options.passages)
        self.writer = BookWriter(store)
        self.store = store
        self.summary = IngestSummary(
            rejected=self.mapper.rejected, flagged=self.mapper.flagged, seconds=self.timer.seconds
        )

    def count_rows(self) -> int | None:
        try:
            return sum(1 for _ in self.reader)
        except Exception:
            return None

    def run(self) -> IngestSummary:
        """Read, map and decode the next chunks in a background thread while this one encodes and writes."""
        options, summary = self.options, self.summary
        total = self.count_rows() if options.progress else None
        bar = tqdm(total=total, unit="book", desc="ingest", disable=not options.progress, dynamic_ncols=True)
        with ThreadPoolExecutor(max_workers=options.workers, initializer=run_in_background) as pool:
            for ready, rows_read in prefetch(self.mapped_chunks(pool), depth=2):
                if ready:
                    self.encode_and_write(ready)
                    release_free_memory()
                bar.update(rows_read)
        bar.close()
        summary.unchanged = self.mapper.unchanged
        summary.duplicate_covers = self.mapper.duplicate_covers
        summary.notes = list(self.reader.notes)
        written = summary.ingested + summary.updated
        if not options.ocr and written and summary.thin >= THIN_SHARE * written:
            summary.notes.append(
                f"{summary.thin} of {written} books have no author and no description: --ocr reads the words on each"
                " cover and stores them with the book, where search finds them (docs/evaluation.md: genre-covers)"
            )
        if options.prune:
            self.prune()
        self.writer.finish()
        if options.rejects_path and summary.rejected:
            self.writer.write_rejects(options.rejects_path, summary.rejected)
        return summary

    def mapped_chunks(self, pool: ThreadPoolExecutor) -> Iterator[tuple[list[Candidate], int]]:
        """Chunks of books ready to encode (new or changed ones only), with how many rows each covered."""
        rows = iter(self.reader)
        while True:
            with self.timer.stage("read"):
                chunk = list(islice(rows, self.options.chunk_size))
            if not chunk:
                return
            with self.timer.stage("map"):
                todo = self.mapper.select(chunk, self.store.content_hashes)
            with self.timer.stage("decode"):
                ready = self.mapper.decode_all(todo, pool)
            yield ready, len(chunk)

    def encode_and_write(self, ready: list[Candidate]) -> None:
        with self.timer.stage("encode"):
            books = self.mapper.encode(ready)
        with self.timer.stage("write"):
            self.writer.write(books)
        updates = sum(book.is_update for book in books)
        self.summary.thin += sum(not book.record.author and not book.record.description for book in books)
        self.summary.updated += updates
        self.summary.ingested += len(books) - updates

    def prune(self) -> None:
        summary = self.summary
        valid_rows = summary.ingested + summary.updated + summary.unchanged
        options = self.options
        summary.prune = self.writer.plan_prune(self.mapper.catalog_ids, valid_rows, options.prune_limit, options.force)
        summary.pruned = self.writer.prune(summary.prune)
