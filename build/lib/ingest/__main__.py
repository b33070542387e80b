"""``python -m ingest CATALOG`` — put a catalog (CSV, JSONL, JSON or a folder of images) into Folio.

Exit status: 0 every row landed; 2 the job could not run (bad arguments, no catalog, no models) or a
prune was refused (what landed is kept); 3 some rows were rejected (the rest landed; see the rejects
report); 4 the store (a Chroma server) stopped answering — what was written is kept, and rerunning
the same command resumes. How long a silent server is retried before giving up:
FOLIO_STORE_RETRY_SECONDS (default 5).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ingest.covers import DOWNLOAD_SECONDS
from ingest.job import EXIT_COULD_NOT_RUN, EXIT_STORE_UNREACHABLE, IngestJob, IngestOptions
from ingest.readers import FIELDS, ColumnMap
from ingest.writer import PRUNE_LIMIT
from multimodal import FolioError, Settings, StoreUnavailable, open_ingest


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("catalog", type=Path, help="a .csv, .jsonl or .json catalog, or a folder of images")
    parser.add_argument(
        "--images-dir", type=Path, help="where cover paths are resolved (default: the catalog's folder)"
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help=f"use COLUMN for FIELD ({', '.join(FIELDS)}); COLUMN may be a template like 'img_{{ISBN}}.jpg'",
    )
    parser.add_argument("--profile", help="model profile: auto or a profile's name (FOLIO_PROFILE)")
    parser.add_argument("--clip-model", help="open_clip model name (FOLIO_CLIP_MODEL)")
    parser.add_argument("--clip-pretrained", help="pretrained tag or local checkpoint file (FOLIO_CLIP_PRETRAINED)")
    precisions = ["auto", "fp32", "bf16", "int8"]
    parser.add_argument("--precision", choices=precisions, help="model precision (FOLIO_PRECISION)")
    parser.add_argument("--data-dir", type=Path, help="where the embedded store lives (FOLIO_DATA_DIR)")
    parser.add_argument("--collection", help="collection name prefix (FOLIO_COLLECTION)")
    parser.add_argument("--chroma-host", help="use a Chroma server at this host (FOLIO_CHROMA_HOST)")
    parser.add_argument("--chroma-port", type=int, help="the Chroma server's port (FOLIO_CHROMA_PORT)")
    parser.add_argument("--store-retry-seconds", type=float, help="seconds to retry an unreachable Chroma server")
    parser.add_argument("--batch-size", type=int, help="images per model forward (FOLIO_BATCH_SIZE)")
    parser.add_argument("--workers", type=int, default=4, help="image decoding threads")
    parser.add_argument("--ocr", action="store_true", help="read the text on each cover and store it with the book")
    passages_help = "do not embed the passages of descriptions longer than the text vector reads (smaller, faster)"
    parser.add_argument("--no-passages", action="store_true", help=passages_help)
    parser.add_argument("--encoding", help="the catalog's encoding when it is not UTF-8 (default: detected, and said)")
    parser.add_argument("--prune", action="store_true", help="remove books that are no longer in the catalog")
    limit_help = f"refuse a prune removing more than this share of the store (default {PRUNE_LIMIT})"
    parser.add_argument("--prune-limit", type=float, default=PRUNE_LIMIT, help=limit_help)
    parser.add_argument("--force", action="store_true", help="prune even beyond --prune-limit")
    parser.add_argument("--rebuild", action="store_true", help="drop the store's vectors and embed everything again")
    parser.add_argument("--shard", help="I/N: ingest only this worker's share of the catalog (0 ≤ I < N)")
    parser.add_argument("--rejects", type=Path, help="JSONL report of rejected rows (default: DATA_DIR/rejects.jsonl)")
    parser.add_argument("--allow-outside", action="store_true", help="allow cover paths outside the catalog's folders")
    private_help = "allow cover URLs on loopback, private and link-local addresses (refused by default)"
    parser.add_argument("--allow-private-urls", action="store_true", help=private_help)
    deadline_help = f"seconds one cover download may take in all, retries included (default {DOWNLOAD_SECONDS:g})"
    parser.add_argument("--download-seconds", type=float, default=DOWNLOAD_SECONDS, help=deadline_help)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        name: value
        for name in (
            "profile",
            "clip_model",
            "clip_pretrained",
            "precision",
            "store_retry_seconds",
            "data_dir",
            "collection",
            "chroma_host",
            "chroma_port",
            "batch_size",
        )
        if (value := getattr(args, name, None)) is not None
    }
    return Settings(**overrides)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    index, _, count = text.partition("/")
    shard = (int(index), int(count))
    if not 0 <= shard[0] < shard[1]:
        raise ValueError(f"--shard {text}: need I/N with 0 ≤ I < N")
    return shard


def options_from(args: argparse.Namespace, settings: Settings) -> IngestOptions:
    return IngestOptions(
        catalog=args.catalog,
        images_dir=args.images_dir,
        columns=ColumnMap.from_arguments(args.map),
        encoding=args.encoding,
        ocr=args.ocr,
        passages=not args.no_passages,
        prune=args.prune,
        prune_limit=args.prune_limit,
        force=args.force,
        shard=parse_shard(args.shard),
        rejects_path=args.rejects or settings.data_dir / "rejects.jsonl",
        workers=args.workers,
        cache_dir=settings.data_dir / "cover-cache",
        allow_outside=args.allow_outside,
        allow_private_urls=args.allow_private_urls,
        download_seconds=args.download_seconds,
        progress=not args.no_progress,
    )


def open_job(args: argparse.Namespace, settings: Settings, options: IngestOptions) -> IngestJob:
    """The models and the store for this run, from the composition root."""
    if not args.catalog.exists():
        raise FolioError(f"catalog not found: {args.catalog}")
    backend = open_ingest(settings, rebuild=args.rebuild)
    if backend.notice:
        print(f"note: {backend.notice}", file=sys.stderr)
    print(f"profile {backend.models.profile.name}; store {backend.store.location}", file=sys.stderr)
    return IngestJob(backend.models, backend.store, options)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = parse_args(argv)
    job: IngestJob | None = None
    try:
        settings = settings_from(args)
        options = options_from(args, settings)
        job = open_job(args, settings, options)
        summary = job.run()
    except StoreUnavailable as error:
        report_unreachable(error, job, progress=not args.no_progress)
        return EXIT_STORE_UNREACHABLE
    except (FolioError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    print(summary.report())
    if summary.rejected:
        print(f"  rejected rows with reasons: {options.rejects_path}")
    return summary.exit_code


def report_unreachable(error: StoreUnavailable, job: IngestJob | None, progress: bool) -> None:
    """The clean stop when the store goes away: what happened, what was kept, what to do."""
    lines = [f"error: {error}; rerun the same command to resume"]
    if job is not None:
        done = job.summary
        lines.append(
            f"  kept before it stopped: {done.ingested} new, {done.updated} updated, {done.unchanged} unchanged "
            "books (a rerun skips them; a book is stored only once its text record is written)"
        )
    print(("\n" if progress else "") + "\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
