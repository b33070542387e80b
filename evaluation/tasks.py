"""``python -m evaluation CATALOG`` — how well Folio finds the right book in a real catalog.

Two tasks, each over a seeded sample of the catalog's books, queried against the whole store:

- cover identification: a simulated phone photo of the book's cover (``multimodal.photo``) is the
  query; the right book is the one whose cover was photographed, or any book whose cover is
  identical-looking (the same perceptual hash, as ingest reports them): no photo can tell those apart;
- known-item text search: what a reader types from memory — part of the title and the author's
  surname, with one typo or one dropped word; the right book is the one with that title and author.

Every query is searched once with cross-scoring; a hit's ``stage1_rank`` is its rank before
cross-scoring, which is exactly the order ``cross_score=False`` returns, so both stages are scored
from one search. Recall@k is the share of queries whose right book is in the first k results;
MRR is the mean of 1/rank (0 when the right book is not returned at all). Latency is the wall-clock
time of ``Folio.search`` on the query (image bytes decoded inside), after one warm-up query.

The catalog is read with the ingest's readers and column mapping (the same ``--map`` options), and
ingested first when the store is empty.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ingest.covers import CoverError, CoverFetcher
from ingest.job import IngestJob, IngestOptions
from ingest.readers import FIELDS, CatalogRow, ColumnMap, read_catalog
from multimodal.errors import FolioError
from multimodal.folio import Folio
from multimodal.images import load_image
from multimodal.photo import phone_photo
from multimodal.settings import Settings
from multimodal.store import BookRecord

TASKS = ("cover", "text")
RANKS = (1, 5, 10)
EVERYTHING = 1_000_000  # ask for every candidate, so that ranks beyond the first page are known


@dataclass
class EvalOptions:
    catalog: Path
    columns: ColumnMap = field(default_factory=ColumnMap)
    images_dir: Path | None = None
    sample: int | None = None  # books queried per task; None: all
    seed: int = 0
    tasks: tuple[str, ...] = TASKS
    allow_outside: bool = False
    progress: bool = True


@dataclass
class Query:
    """One query with the ids of the books that count as the right answer."""

    task: str
    book_id: str
    relevant: frozenset[str]
    text: str = ""
    image: bytes | None = None


@dataclass
class Outcome:
    """Where the right book came in one search, before (stage 1) and after cross-scoring."""

    task: str
    book_id: str
    query: str
    stage1_rank: int | None
    rank: int | None
    ms: float
    stage1_ms: float
    cover_text: str = ""
    top: str = ""  # the first hit, to read the misses


@dataclass
class Scores:
    queries: int
    stage1: dict[str, float]
    cross_scored: dict[str, float]
    latency_ms: dict[str, float]


# -- the ground truth -------------------------------------------------------------------------
def catalog_ids(options: EvalOptions) -> list[str]:
    """The ids of the catalog's readable rows, in catalog order (as ingest names them)."""
    ids = (row.book_id for row in read_catalog(options.catalog, options.columns) if isinstance(row, CatalogRow))
    return list(dict.fromkeys(ids))


def cover_fetcher(options: EvalOptions, settings: Settings) -> CoverFetcher:
    roots = [options.images_dir] if options.images_dir else []
    roots.append(options.catalog if options.catalog.is_dir() else options.catalog.parent)
    return CoverFetcher(roots, settings.data_dir / "cover-cache", options.allow_outside)


def has_cover(record: BookRecord) -> bool:
    return bool(record.cover) and "blank-cover" not in record.flags


def same_key_groups(records: Iterable[BookRecord], key: Callable[[BookRecord], str]) -> dict[str, frozenset[str]]:
    """Book id → the ids of all books sharing its key (itself included)."""
    groups: dict[str, set[str]] = defaultdict(set)
    keys = {record.book_id: key(record) for record in records}
    for book_id, value in keys.items():
        groups[value].add(book_id)
    return {book_id: frozenset(groups[value]) for book_id, value in keys.items()}


def text_key(record: BookRecord) -> str:
    return f"{normalise(record.title)}|{normalise(record.author)}"


def normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def sample(ids: list[str], size: int | None, seed: int) -> list[str]:
    if size is None or size >= len(ids):
        return ids
    chosen = set(random.Random(seed).sample(ids, size))
    return [book_id for book_id in ids if book_id in chosen]


def book_seed(seed: int, book_id: str) -> int:
    """A per-book seed: a book gets the same photo and typo whatever else is sampled."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{book_id}".encode()).digest()[:8], "big")


# -- the queries ------------------------------------------------------------------------------
def cover_queries(records: list[BookRecord], fetcher: CoverFetcher, options: EvalOptions) -> list[Query]:
    with_cover = [record for record in records if has_cover(record)]
    relevant = same_key_groups(with_cover, lambda record: record.phash or record.book_id)
    chosen = sample([record.book_id for record in with_cover], options.sample, options.seed)
    by_id = {record.book_id: record for record in with_cover}
    return [
        Query(
            "cover",
            book_id,
            relevant[book_id],
            image=phone_photo(load_image(fetcher.fetch(by_id[book_id].cover)), book_seed(options.seed, book_id)),
        )
        for book_id in tqdm(chosen, desc="photos", unit="photo", disable=not options.progress, leave=False)
    ]


def text_queries(records: list[BookRecord], options: EvalOptions) -> list[Query]:
    titled = [record for record in records if record.title.strip()]
    relevant = same_key_groups(titled, text_key)
    chosen = set(sample([record.book_id for record in titled], options.sample, options.seed))
    return [
        Query(
            "text",
            record.book_id,
            relevant[record.book_id],
            text=known_item_query(record.title, record.author, random.Random(book_seed(options.seed, record.book_id))),
        )
        for record in titled
        if record.book_id in chosen
    ]


def known_item_query(title: str, author: str, rng: random.Random) -> str:
    """Part of the title and the author's surname as a reader types them: one word dropped or one typo.

    A word is dropped only from titles of three words or more (half of a two-word title is not
    what a reader remembers of it); otherwise, or by the toss of a coin, one word gets a typo.
    """
    words = normalise(main_title(title)).split() or normalise(title).split()
    tail = [surname] if (surname := surname_of(author)) else []
    if len(words) >= 3 and rng.random() < 0.5:
        del words[rng.randrange(len(words))]
        return " ".join(words + tail)
    query = words + tail
    long_enough = [i for i, word in enumerate(query) if len(word) >= 4]
    if long_enough:
        i = rng.choice(long_enough)
        query[i] = typo(query[i], rng)
    return " ".join(query)


def main_title(title: str) -> str:
    """The title without its subtitle ("Emma: A Novel" → "Emma")."""
    return re.split(r"\s*[:(\[]|\s+-\s+", title, maxsplit=1)[0]


def surname_of(author: str) -> str:
    """The first author's surname ("Mona Hodgson and Jane Roe" → "hodgson")."""
    first = re.split(r"\s+(?:and|&)\s+|[,;/]", author, maxsplit=1)[0]
    names = [name for name in normalise(first).split() if name not in {"jr", "sr", "ii", "iii", "iv"}]
    return names[-1] if names else ""


def typo(word: str, rng: random.Random) -> str:
    """One slip of the fingers, never on the first letter: a letter dropped, doubled, swapped or wrong."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "double", "swap", "wrong"))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[: i + 1] + word[i:]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    wrong = rng.choice([letter for letter in "abcdefghijklmnopqrstuvwxyz" if letter != word[i]])
    return word[:i] + wrong + word[i + 1 :]


# -- searching and scoring --------------------------------------------------------------------
def run_query(folio: Folio, query: Query) -> Outcome:
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
        cover_text=result.cover_text,
        top=result.hits[0].book_id if result.hits else "",
    )


def run_queries(folio: Folio, queries: list[Query], progress: bool) -> list[Outcome]:
    if queries:
        run_query(folio, queries[0])  # warm-up: lazy model loading is not a query's latency
    return [
        run_query(folio, query)
        for query in tqdm(queries, desc="queries", unit="query", disable=not progress, leave=False)
    ]


def rank_metrics(ranks: list[int | None]) -> dict[str, float]:
    metrics = {f"R@{k}": sum(rank is not None and rank <= k for rank in ranks) / len(ranks) for k in RANKS}
    metrics["MRR"] = sum(1 / rank for rank in ranks if rank) / len(ranks)
    return {name: round(value, 4) for name, value in metrics.items()}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latency(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "p95": round(percentile(values, 0.95), 1)}


def score(outcomes: list[Outcome]) -> Scores:
    return Scores(
        queries=len(outcomes),
        stage1=rank_metrics([outcome.stage1_rank for outcome in outcomes]),
        cross_scored=rank_metrics([outcome.rank for outcome in outcomes]),
        latency_ms={
            **latency([outcome.ms for outcome in outcomes]),
            **{f"stage1_{name}": value for name, value in latency([o.stage1_ms for o in outcomes]).items()},
        },
    )


# -- the whole evaluation ---------------------------------------------------------------------
def ensure_ingested(folio: Folio, options: EvalOptions) -> None:
    if folio.store.count():
        return
    print(f"the store is empty: ingesting {options.catalog} first", file=sys.stderr)
    job = IngestJob(
        folio.models,
        folio.store,
        IngestOptions(
            catalog=options.catalog,
            images_dir=options.images_dir,
            columns=options.columns,
            allow_outside=options.allow_outside,
            cache_dir=folio.settings.data_dir / "cover-cache",
            progress=options.progress,
        ),
    )
    print(job.run().report(), file=sys.stderr)


def evaluate(folio: Folio, options: EvalOptions) -> dict[str, Any]:
    """Run the evaluation; returns the report (metrics, setup and every query's outcome)."""
    ensure_ingested(folio, options)
    ids = catalog_ids(options)
    records = [book.record for book in folio.store.fetch(ids, with_vectors=False).values()]
    if not records:
        raise FolioError(f"none of the {len(ids)} books of {options.catalog} is in the store {folio.store.location}")
    report: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "catalog": str(options.catalog),
        "profile": folio.profile,
        "store": folio.store.location,
        "catalog_books": len(ids),
        "store_books": folio.store.count(),
        "seed": options.seed,
        "sample": options.sample,
        "tasks": {},
    }
    for task in options.tasks:
        queries = make_queries(task, records, folio.settings, options)
        outcomes = run_queries(folio, queries, options.progress)
        report["tasks"][task] = {
            "scores": asdict(score(outcomes)),
            "ambiguous_queries": sum(len(query.relevant) > 1 for query in queries),
            "outcomes": [asdict(outcome) for outcome in outcomes],
        }
    return report


def make_queries(task: str, records: list[BookRecord], settings: Settings, options: EvalOptions) -> list[Query]:
    if task == "cover":
        return cover_queries(records, cover_fetcher(options, settings), options)
    if task == "text":
        return text_queries(records, options)
    raise ValueError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")


# -- output -----------------------------------------------------------------------------------
TASK_TITLES = {"cover": "Cover identification (simulated phone photos)", "text": "Known-item text search"}
SHOWN = {"cover": ("R@1", "R@5", "MRR"), "text": ("R@1", "R@10", "MRR")}


def table(report: dict[str, Any]) -> str:
    lines = [
        f"profile {report['profile']}; {report['store_books']} books in the store; "
        f"catalog {report['catalog']} ({report['catalog_books']} rows); seed {report['seed']}"
    ]
    for task, result in report["tasks"].items():
        scores = result["scores"]
        shown = SHOWN[task]
        lines += [
            "",
            f"{TASK_TITLES[task]}: {scores['queries']} queries",
            f"  {'':<14}" + "".join(f"{name:>8}" for name in shown),
            f"  {'stage 1':<14}" + "".join(f"{scores['stage1'][name]:>8.3f}" for name in shown),
            f"  {'cross-scored':<14}" + "".join(f"{scores['cross_scored'][name]:>8.3f}" for name in shown),
            "  latency: median {median:.0f} ms, p95 {p95:.0f} ms "
            "(stage 1 only: median {stage1_median:.0f} ms, p95 {stage1_p95:.0f} ms)".format(**scores["latency_ms"]),
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.split("\n\n")[0])
    parser.add_argument("catalog", type=Path, help="the catalog (as for python -m ingest)")
    parser.add_argument(
        "--map", action="append", default=[], metavar="FIELD=COLUMN", help=f"as for ingest ({', '.join(FIELDS)})"
    )
    parser.add_argument(
        "--images-dir", type=Path, help="where cover paths are resolved (default: the catalog's folder)"
    )
    parser.add_argument("--profile", choices=["auto", "clip", "offline"], help="model profile (FOLIO_PROFILE)")
    parser.add_argument("--data-dir", type=Path, help="the store; ingested first when empty (FOLIO_DATA_DIR)")
    parser.add_argument("--collection", help="collection name prefix (FOLIO_COLLECTION)")
    parser.add_argument("--sample", type=int, help="books queried per task, drawn with the seed (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sample, the photos and the typos")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
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
            columns=ColumnMap(dict(item.split("=", 1) for item in args.map)),
            images_dir=args.images_dir,
            sample=args.sample,
            seed=args.seed,
            tasks=tuple(task.strip() for task in args.tasks.split(",") if task.strip()),
            allow_outside=args.allow_outside,
            progress=not args.no_progress,
        )
        if not args.catalog.exists():
            raise FolioError(f"catalog not found: {args.catalog}")
        report = evaluate(Folio.open(Settings(**overrides)), options)
    except (FolioError, CoverError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(report))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(f"\nreport: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
