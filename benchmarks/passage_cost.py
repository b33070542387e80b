"""What description passages cost at ingest: time and store size, with and without, side by side in one run.

    python benchmarks/passage_cost.py --books 300 --seed 0

For each real catalog (italian-covers: long Italian descriptions; romance-covers: short English blurbs),
the same seeded sample of ``--books`` books is ingested twice by the real ingest job with the offline
profile (MiniLM), into two fresh stores: once with ``passages=False`` (as before passages existed),
once with passages (``multimodal.passages``). Covers are read once beforehand so neither run pays for
a cold disk. Prints, per catalog and run: books, passages stored, the job's seconds (all, and its
encode and write stages), the store's size on disk, the median time of a text query (``--queries``
runs of 8 words from the end of a sampled description, after a warm-up), and the ratios. Say the
load average beside the figures: the machine is shared, so only the ratios of one run compare.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingest.job import IngestJob, IngestOptions
from ingest.readers import ColumnMap
from multimodal.service import load_models, open_ingest, open_search
from multimodal.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ITALIAN = SHARED / "italian-covers"
ROMANCE = SHARED / "romance-covers"


@dataclass
class Sample:
    """A sample of a real catalog written as a catalog file, read by ingest like the whole one."""

    catalog: Path
    images_dir: Path
    columns: ColumnMap
    covers: list[Path]
    descriptions: list[str]


def italian_sample(folder: Path, books: int, seed: int) -> Sample:
    rows = random.Random(seed).sample(json.loads((ITALIAN / "books.json").read_text()), books)
    path = folder / "italian.json"
    path.write_text(json.dumps(rows, ensure_ascii=False))
    covers = [ITALIAN / row["cover"] for row in rows if row.get("cover")]
    return Sample(path, ITALIAN, ColumnMap(), covers, [row.get("description") or "" for row in rows])


def romance_sample(folder: Path, books: int, seed: int) -> Sample:
    with (ROMANCE / "listings.csv").open(newline="") as stream:
        reader = csv.DictReader(stream)
        header = reader.fieldnames or []
        rows = [row for row in reader if (ROMANCE / "images" / f"img_{row['ISBN']}.jpg").is_file()]
    rows = random.Random(seed).sample(rows, books)
    path = folder / "romance.csv"
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, header)
        writer.writeheader()
        writer.writerows(rows)
    columns = ColumnMap.from_arguments(["cover=images/img_{ISBN}.jpg", "id=ISBN"])
    covers = [ROMANCE / "images" / f"img_{row['ISBN']}.jpg" for row in rows]
    return Sample(path, ROMANCE, columns, covers, [row["description"] for row in rows])


CATALOGS: dict[str, Callable[[Path, int, int], Sample]] = {"italian": italian_sample, "romance": romance_sample}


def folder_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def end_of_description_queries(sample: Sample, count: int, seed: int) -> list[str]:
    """8 consecutive words from the last 40 of a description (from its first 40 when it is shorter)."""
    rng = random.Random(seed)
    queries = []
    for description in sample.descriptions:
        words = description.split()
        if len(words) >= 16:
            start = rng.randrange(max(len(words) - 40, 0), len(words) - 8)
            queries.append(" ".join(words[start : start + 8]))
    return queries[:count]


def median_query_ms(data_dir: Path, queries: list[str]) -> float:
    folio = open_search(Settings(profile="offline", data_dir=data_dir, query_ocr=False))
    folio.search(text=queries[0])  # warm-up: lazy loading is not a query's latency
    times = []
    for query in queries:
        started = time.perf_counter()
        folio.search(text=query, k=10)
        times.append(1000 * (time.perf_counter() - started))
    folio.store.close()
    return statistics.median(times)


def ingest_once(sample: Sample, data_dir: Path, models, passages: bool) -> dict[str, float]:
    backend = open_ingest(Settings(profile="offline", data_dir=data_dir), models=models)
    options = IngestOptions(
        catalog=sample.catalog,
        images_dir=sample.images_dir,
        columns=sample.columns,
        passages=passages,
        progress=False,
        cache_dir=data_dir / "cover-cache",
    )
    started = time.perf_counter()
    summary = IngestJob(backend.models, backend.store, options).run()
    seconds = time.perf_counter() - started
    info = backend.store.info()
    backend.store.close()
    return {
        "books": info.books,
        "passages": info.passages,
        "seconds": seconds,
        "encode": summary.seconds["encode"],
        "write": summary.seconds["write"],
        "mb": folder_mb(data_dir / "chroma"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=300, help="books sampled from each catalog")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--queries", type=int, default=50, help="text queries timed per store")
    parser.add_argument("--catalogs", default=",".join(CATALOGS), help=f"comma-separated, of {', '.join(CATALOGS)}")
    args = parser.parse_args()
    models = load_models(Settings(profile="offline", query_ocr=False), for_search=False).models
    print(f"load average at start {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} CPUs")
    header = f"{'catalog':9} {'passages':8} {'books':>6} {'vectors+':>8} {'ingest s':>9} {'encode s':>9} {'write s':>8}"
    print(header + f" {'store MB':>9} {'query ms':>9}")
    with tempfile.TemporaryDirectory(prefix="passage-cost-") as scratch:
        for name in args.catalogs.split(","):
            sample = CATALOGS[name](Path(scratch), args.books, args.seed)
            for cover in sample.covers:  # warm the disk cache: neither run pays for a cold read
                cover.read_bytes()
            runs = {
                with_passages: ingest_once(sample, Path(scratch) / f"{name}-{with_passages}", models, with_passages)
                for with_passages in (False, True)
            }
            queries = end_of_description_queries(sample, args.queries, args.seed)
            for with_passages, run in runs.items():
                run["query_ms"] = median_query_ms(Path(scratch) / f"{name}-{with_passages}", queries)
                print(
                    f"{name:9} {'with' if with_passages else 'without':8} {run['books']:6.0f} {run['passages']:8.0f} "
                    f"{run['seconds']:9.1f} {run['encode']:9.1f} {run['write']:8.1f} {run['mb']:9.1f} "
                    f"{run['query_ms']:9.1f}"
                )
            without, with_ = runs[False], runs[True]
            ratios = {
                "text vectors": (with_["books"] + with_["passages"]) / with_["books"],
                "ingest": with_["seconds"] / without["seconds"],
                "encode": with_["encode"] / without["encode"],
                "store": with_["mb"] / without["mb"],
                "query": with_["query_ms"] / without["query_ms"],
            }
            print(f"{name:9} ratio    " + ", ".join(f"{what} x{ratio:.2f}" for what, ratio in ratios.items()))
    print(f"load average at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
