"""``python -m evaluation CATALOG`` — how well Folio finds the right book in a real catalog.

Each registered task (``evaluation.tasks``; typed queries in ``evaluation.text``, photos in
``evaluation.photos``) makes queries over a seeded sample of the stored books; each query is
searched once against the whole store, with cross-scoring. A hit's ``stage1_rank`` is its rank
before cross-scoring — exactly the order ``cross_score=False`` returns — so both stages are scored
from one search. The task's reference ranker (plain BM25 for typed queries) ranks the same
queries in the same run. Latency is measured after one warm-up query.

The catalog is read with the ingest's readers and column mapping (the same ``--map`` options), and
ingested first when the store is empty. ``--split held-out`` (seed 1, the default for reported
figures) or ``--split tuning`` (seed 2, where weights and thresholds are chosen).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from evaluation import absent, photos, text  # noqa: F401  (importing a family registers its tasks)
from evaluation.absent import held_out_ids, write_present_catalog
from evaluation.metrics import Outcome, score, table, verdict
from evaluation.tasks import SPLIT_SEEDS, TASKS, Query, Reference, TaskContext, catalog_records, split_name
from ingest.covers import CoverError
from ingest.job import IngestJob, IngestOptions
from ingest.readers import FIELDS, CatalogRow, ColumnMap, read_catalog
from multimodal import Folio, FolioError, Settings, open_ingest, open_search
from multimodal.evidence import work_of

EVERYTHING = 1_000_000  # ask for every candidate, so that ranks beyond the first page are known
TOP_HITS_KEPT = 4  # per query, the first hits' scores are kept in the report (calibration reads them)


@dataclass
class EvalOptions:
    catalog: Path
    columns: ColumnMap = field(default_factory=ColumnMap)
    images_dir: Path | None = None
    sample: int | None = None  # books queried per task; None: all
    seed: int = SPLIT_SEEDS["held-out"]
    tasks: tuple[str, ...] = tuple(TASKS)
    allow_outside: bool = False
    progress: bool = True
    absent: float = 0.0  # the share of the catalog held out at ingest (for the not-in-catalog task)
    ocr: bool = False  # an empty store is ingested with each cover's words read and stored (ingest --ocr)


def catalog_ids(options: EvalOptions) -> list[str]:
    """The ids of the catalog's readable rows, in catalog order (as ingest names them)."""
    ids = (row.book_id for row in read_catalog(options.catalog, options.columns) if isinstance(row, CatalogRow))
    return list(dict.fromkeys(ids))


# -- searching --------------------------------------------------------------------------------
def first_rank(ranked: list[str], relevant: frozenset[str]) -> int | None:
    return next((rank for rank, book_id in enumerate(ranked, start=1) if book_id in relevant), None)


def run_query(folio: Folio, query: Query, reference: Reference | None) -> Outcome:
    started = time.perf_counter()
    result = folio.search(text=query.text, image=query.image, k=EVERYTHING, min_score=float("-inf"))
    ms = (time.perf_counter() - started) * 1000
    right = [hit for hit in result.hits if hit.book_id in query.relevant]
    return Outcome(
        task=query.task,
        book_id=query.book_id,
        query=query.text,
        stage1_rank=min((hit.stage1_rank for hit in right), default=None),
        rank=min((hit.rank for hit in right), default=None),
        ms=round(ms, 1),
        stage1_ms=round(ms - result.timings_ms.get("cross_score", 0.0), 1),
        reference_rank=first_rank(reference.rank(query), query.relevant) if reference else None,
        cover_text=result.cover_text,
        top=result.hits[0].book_id if result.hits else "",
        top_hits=[
            {
                "score": hit.score,
                "relevance": hit.relevance,
                "phrase": hit.phrase,
                "right": hit.book_id in query.relevant,
            }
            for hit in result.hits[:TOP_HITS_KEPT]
        ],
        conditions=query.conditions,
        cover_identified=result.cover_identified,
        verdict=result.verdict,
        cover_region=result.cover_region,
        cover_confidence=result.cover_confidence,
        stage2_candidates=[
            {
                "book_id": hit.book_id,
                "work": work_of(hit.title, hit.author),
                "title": hit.title,  # as filed: the verdict's replay reads its main title (subtitles need punctuation)
                "right": hit.book_id in query.relevant,
                "signals": hit.signals,
            }
            for hit in result.hits
            if result.cover_region and hit.stage2_score is not None
        ],
    )


def run_queries(folio: Folio, queries: list[Query], reference: Reference | None, progress: bool) -> list[Outcome]:
    if queries:
        folio.search(text=queries[0].text, image=queries[0].image)  # warm-up: lazy loading is not a query's latency
    return [
        run_query(folio, query, reference)
        for query in tqdm(queries, desc="queries", unit="query", disable=not progress, leave=False)
    ]


# -- the whole evaluation ---------------------------------------------------------------------
def ensure_ingested(folio: Folio, options: EvalOptions) -> None:
    """Ingest the catalog into an empty store; with ``options.absent``, all of it but that held-out share."""
    if folio.count():
        return
    print(f"the store is empty: ingesting {options.catalog} first", file=sys.stderr)
    backend = open_ingest(folio.settings, models=folio.models)
    catalog, columns, images_dir = options.catalog, options.columns, options.images_dir
    if options.absent:
        records = catalog_records(options.catalog, options.columns)
        catalog = write_present_catalog(records, options.absent, folio.settings.data_dir)
        columns, images_dir = ColumnMap(), options.images_dir or options.catalog.parent
        print(f"holding {len(held_out_ids(folio.settings.data_dir))} books out of the store", file=sys.stderr)
    job = IngestJob(
        backend.models,
        backend.store,
        IngestOptions(
            catalog=catalog,
            images_dir=images_dir,
            columns=columns,
            allow_outside=options.allow_outside,
            ocr=options.ocr,
            cache_dir=folio.settings.data_dir / "cover-cache",
            progress=options.progress,
        ),
    )
    print(job.run().report(), file=sys.stderr)


def task_context(folio: Folio, options: EvalOptions, ids: list[str] | None = None) -> TaskContext:
    """What the tasks draw their queries from: the catalog's books in the store, and those held out of it at ingest
    (``ids``: the catalog's, when already read)."""
    ids = catalog_ids(options) if ids is None else ids
    records = list(folio.books(ids).values())
    if not records:
        raise FolioError(f"none of the {len(ids)} books of {options.catalog} is in the store {folio.location}")
    held_out = held_out_ids(folio.settings.data_dir)
    absent_books = (
        [record for record in catalog_records(options.catalog, options.columns) if record.book_id in held_out]
        if held_out
        else []  # most runs hold nothing out: no second read of the catalog
    )
    return TaskContext(
        records, options.catalog, options.images_dir, folio.settings, options.sample, options.seed,
        options.allow_outside, options.progress, absent_books,
    )  # fmt: skip


def evaluate(folio: Folio, options: EvalOptions) -> dict[str, Any]:
    """Run the evaluation; returns the report (metrics, setup and every query's outcome)."""
    unknown = [task for task in options.tasks if task not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; tasks are {', '.join(TASKS)}")
    ensure_ingested(folio, options)
    ids = catalog_ids(options)
    context = task_context(folio, options, ids)
    report: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "catalog": str(options.catalog),
        "profile": folio.profile,
        "store": folio.location,
        "catalog_books": len(ids),
        "store_books": folio.count(),
        "seed": options.seed,
        "split": split_name(options.seed),
        "sample": options.sample,
        "held_out_of_store": len(context.absent),
        "tasks": {},
    }
    references: dict[Any, Reference] = {}  # one reference index per factory, shared by the tasks that use it
    for name in options.tasks:
        report["tasks"][name] = run_task(folio, name, context, references)
    return report


def run_task(folio: Folio, name: str, context: TaskContext, references: dict[Any, Reference]) -> dict[str, Any]:
    task = TASKS[name]
    queries = task.make_queries(context)
    if not queries:
        return {"skipped": f"no queries: this task needs {task.needs or 'something this catalog lacks'}"}
    reference = None
    if task.reference is not None:
        if task.reference not in references:
            references[task.reference] = task.reference(context.records)
        reference = references[task.reference]
    outcomes = run_queries(folio, queries, reference, context.progress)
    scores = asdict(score(outcomes, with_reference=reference is not None))
    rows = [asdict(outcome) for outcome in outcomes]
    photo = photos.photo_summary(rows)  # by condition: photo tasks only
    confident = absent.confidence_rates(rows)  # how often the result is confident, and rightly so
    return {
        "scores": scores,
        "reference": reference.name if reference else None,
        "verdict": verdict(scores),
        "ambiguous_queries": sum(len(query.relevant) > 1 for query in queries),
        **photo,
        "confidence": confident.rates,
        "detail_lines": confident.lines + photo.get("detail_lines", []),
        "outcomes": rows,
    }


# -- the command ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.split("\n\n")[0])
    parser.add_argument("catalog", type=Path, help="the catalog (as for python -m ingest)")
    parser.add_argument(
        "--map", action="append", default=[], metavar="FIELD=COLUMN", help=f"as for ingest ({', '.join(FIELDS)})"
    )
    parser.add_argument(
        "--images-dir", type=Path, help="where cover paths are resolved (default: the catalog's folder)"
    )
    parser.add_argument("--profile", help="model profile (FOLIO_PROFILE)")
    parser.add_argument("--data-dir", type=Path, help="the store; ingested first when empty (FOLIO_DATA_DIR)")
    parser.add_argument("--collection", help="collection name prefix (FOLIO_COLLECTION)")
    parser.add_argument("--sample", type=int, help="books queried per task, drawn with the seed (default: all)")
    parser.add_argument(
        "--split",
        choices=sorted(SPLIT_SEEDS),
        default="held-out",
        help="tuning (seed 2): choose weights and thresholds here; held-out (seed 1): report figures here",
    )
    parser.add_argument("--seed", type=int, help="an explicit seed instead of the split's (then neither split)")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    parser.add_argument(
        "--absent",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="when ingesting an empty store, hold this share of the catalog out (the absent task asks for them)",
    )
    parser.add_argument(
        "--ocr", action="store_true", help="when ingesting an empty store, store each cover's words (ingest --ocr)"
    )
    parser.add_argument("--report", type=Path, help="write the JSON report (metrics and every query) here")
    parser.add_argument("--allow-outside", action="store_true", help="allow cover paths outside the catalog's folders")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = parse_args(argv)
    overrides = {
        name: value for name in ("profile", "data_dir", "collection") if (value := getattr(args, name)) is not None
    }
    try:
        options = EvalOptions(
            catalog=args.catalog,
            columns=ColumnMap.from_arguments(args.map),
            images_dir=args.images_dir,
            sample=args.sample,
            seed=args.seed if args.seed is not None else SPLIT_SEEDS[args.split],
            tasks=tuple(task.strip() for task in args.tasks.split(",") if task.strip()),
            allow_outside=args.allow_outside,
            progress=not args.no_progress,
            absent=args.absent,
            ocr=args.ocr,
        )
        if not args.catalog.exists():
            raise FolioError(f"catalog not found: {args.catalog}")
        report = evaluate(open_search(Settings(**overrides), create=True), options)  # ingests an empty store
    except (FolioError, CoverError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(report, {name: task.title for name, task in TASKS.items()}, {n: t.shown for n, t in TASKS.items()}))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(f"\nreport: {args.report}")
    return 0
