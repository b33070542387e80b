"""Query latency by stage, at several catalog sizes, and the pipeline's overhead over its model forwards.

    python benchmarks/query_latency.py --profiles clip offline --sizes 1000 10000 100000 \
        --queries 30 --plot docs/query_latency.png
    python benchmarks/query_latency.py --profiles offline --kinds text --sizes 1000 100000 \
        --stores romance=/tmp/bench/romance italian=/tmp/bench/italian --queries 40

``--stores NAME=DATA_DIR`` adds real catalogs already ingested (offline profile; give copies: opening
a store may adjust its HNSW settings and writes its full-text index beside it). Their text queries
are drawn from their own books in the same way.

The full-text channel's share of a text query: the ``fulltext_search`` stage (the index's query)
plus the coverage check of its hits (the query's words in each hit's text, timed by wrapping
``StoreFullText.coverage``; it runs inside ``merge``), over the total, per query (median).
Timing starts only once each store's full-text index is in step with the store (its first sync
at open, in line or in the background, has finished).

Each query runs through ``Folio.search`` (the product's code: encode, Chroma shortlists, title
search, merge, stage-2 scoring) with shortlist 50 and 32 cross-scored, and its ``timings_ms`` are
collected. Text queries are real titles, authors and blurb phrases of the romance listings; image
queries are the real cover files (as bytes, as an upload arrives). The clip profile runs image
queries without OCR; the offline profile with its OCR (that is its image query).

Catalogs (see bench_common): real books first, synthetic ones beyond 1,435. They are built once
and cached; the first build of the 100,000-book catalogs takes long (HNSW inserts).

Pipeline overhead (clip profile): in the same run, interleaved with the searches, the pure model
forwards on the same inputs are timed: the text tower on the query, the image tower on the
already-preprocessed cover, the cross-encoder on the 32 cross-scored (query, book text) pairs.
Overhead = median end-to-end ÷ sum of the forwards' medians.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from bench_common import (
    BENCH_DIR,
    CROSS_SCORE_TOP,
    catalog_folder,
    catalog_store,
    cover_path,
    machine_line,
    median,
    p95,
    profile_settings,
    romance_rows,
    text_queries,
    timed_ms,
    wait_for_quiet,
)

from multimodal import open_search
from multimodal.images import load_image
from multimodal.records import BookRecord
from multimodal.service import load_models

SEARCH_STAGES = ("encode", "vector_search", "fulltext_search", "merge", "cross_score")
STAGES = (*SEARCH_STAGES, "other", "total")  # other: the rest of the search (building the hits, relevance)
FULLTEXT_COVERAGE = "fulltext_coverage"  # inside merge
KINDS = ("text", "image")


class TimedCoverage:
    """Wraps a searcher's ``StoreFullText.coverage`` and adds up the milliseconds it takes per query."""

    def __init__(self, fulltext) -> None:
        self.inner = fulltext.coverage
        self.ms = 0.0
        fulltext.coverage = self

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.ms += (time.perf_counter() - start) * 1000

    def take(self) -> float:
        ms, self.ms = self.ms, 0.0
        return ms


@dataclass
class Catalog:
    """One store to time: its settings, and the real books its queries are drawn from."""

    name: str
    settings: object
    rows: list[dict[str, str]] = field(default_factory=list)  # title/author/description/cover of real books


def documents_of(result) -> list[str]:
    """The book texts the cross-encoder read: the cross-scored hits come first in the result."""
    return [
        BookRecord(hit.book_id, hit.title, hit.author, hit.description, genre=hit.genre).document
        for hit in result.hits[:CROSS_SCORE_TOP]
    ]


def summarise(kind_timings: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    values = {stage: [timings.get(stage, 0.0) for timings in kind_timings] for stage in (*STAGES, FULLTEXT_COVERAGE)}
    summary = {stage: {"median": median(v), "p95": p95(v)} for stage, v in values.items()}
    shares = [
        (timings.get("fulltext_search", 0.0) + timings.get(FULLTEXT_COVERAGE, 0.0)) / timings["total"]
        for timings in kind_timings
        if timings.get("total")
    ]
    summary["fulltext_share"] = {"median": median(shares), "p95": p95(shares)}
    return summary


def synthetic_catalog(profile: str, size: int, bench_dir: Path, synthetic_covers: bool) -> Catalog:
    """A bench_common catalog: its real part is the first romance books, and queries come from them."""
    rows = [row | {"cover": str(cover_path(row))} for row in romance_rows(min(size, 1431))]
    settings = catalog_store(profile, size, bench_dir, synthetic_covers)
    return Catalog(catalog_folder(profile, size, synthetic_covers), settings, rows)


def real_catalog(profile: str, name: str, data_dir: Path, bench_dir: Path) -> Catalog:
    """An ingested catalog: queries come from its own books (read once the store is open)."""
    return Catalog(name, profile_settings(profile, data_dir, bench_dir))


def open_catalog(catalog: Catalog, models, queries: int, warmup: int) -> tuple:
    """The catalog's Folio once its full-text index is in step, its inputs, and its result skeleton."""
    start = time.perf_counter()
    folio = open_search(catalog.settings, models=models)
    open_ms = (time.perf_counter() - start) * 1000
    while folio.searcher.fulltext.last_sync is None:  # a large index kept on disk syncs in the background
        time.sleep(0.5)
    sync = folio.searcher.fulltext.last_sync
    ready_ms = (time.perf_counter() - start) * 1000
    if not catalog.rows:
        records = folio.records()
        catalog.rows = [
            {"title": r.title, "author": r.author, "description": r.description, "cover": r.cover or ""}
            for r in records
            if r.title
        ]
    rows = catalog.rows
    texts = text_queries(rows, queries + warmup)
    with_covers = [row for row in rows if row["cover"] and Path(row["cover"]).is_file()]
    images = [Path(row["cover"]).read_bytes() for row in with_covers[:: max(1, len(with_covers) // (queries + warmup))]]
    coverage = TimedCoverage(folio.searcher.fulltext)
    start = time.perf_counter()
    folio.search(texts[0], k=CROSS_SCORE_TOP)
    coverage.take()
    result = {
        "profile": catalog.settings.profile,
        "catalog": catalog.name,
        "size": folio.count(),
        "open_ms": open_ms,
        "fulltext_ready_ms": ready_ms,
        "fulltext_sync_s": sync.seconds,
        "first_query_ms": (time.perf_counter() - start) * 1000,
        "timings": {kind: [] for kind in KINDS},
        "forward_ms": {"text_encode": [], "image_encode": [], "cross_score_32": []},
        "loads": [],
    }
    return folio, (texts, images[: queries + warmup]), coverage, result


def measure(catalogs: list[Catalog], kinds: list[str], queries: int, warmup: int) -> list[dict]:
    """All catalogs in one process with one set of models, queried in turn, so that load changes hit each alike."""
    start = time.perf_counter()
    models = load_models(catalogs[0].settings).models
    models_ms = (time.perf_counter() - start) * 1000
    opened = [open_catalog(catalog, models, queries, warmup) for catalog in catalogs]
    for i in range(queries + warmup):
        for folio, (texts, images), coverage, result in opened:
            timings, text_result = {}, None
            if "text" in kinds:
                text_result = folio.search(texts[i], k=CROSS_SCORE_TOP)
                timings["text"] = with_other(text_result.timings_ms) | {FULLTEXT_COVERAGE: coverage.take()}
            if "image" in kinds:
                image_timings = folio.search(image=images[i % len(images)]).timings_ms
                timings["image"] = with_other(image_timings) | {FULLTEXT_COVERAGE: coverage.take()}
            if i < warmup:
                continue
            result["loads"].append(os.getloadavg()[0])
            for kind, values in timings.items():
                result["timings"][kind].append(values)
            if result["profile"] == "clip" and text_result is not None and "image" in kinds:
                time_forwards(models, texts[i], text_result, images[i % len(images)], result["forward_ms"])
    summaries = []
    for folio, _, _, result in opened:
        summaries.append(summary_of(result, kinds, models_ms))
        folio.store.close()
    del opened
    gc.collect()
    return summaries


def with_other(timings: dict[str, float]) -> dict[str, float]:
    """A search's stage timings plus ``other``: its total less the named stages."""
    return dict(timings) | {"other": timings["total"] - sum(timings.get(stage, 0.0) for stage in SEARCH_STAGES)}


def time_forwards(models, text: str, text_result, image: bytes, forwards: dict[str, list[float]]) -> None:
    """The pure model forwards of a clip query (what the overhead is measured against)."""
    pixels = models.image_encoder.prepare(load_image(image))
    documents = documents_of(text_result)
    forwards["text_encode"] += timed_ms(lambda: models.text_encoder.encode_texts([text]), 1)
    forwards["image_encode"] += timed_ms(lambda: models.image_encoder.encode_prepared([pixels]), 1)
    forwards["cross_score_32"] += timed_ms(lambda: models.cross_scorer.score(text, documents), 1)


def summary_of(result: dict, kinds: list[str], models_ms: float) -> dict:
    timings, forward_ms, loads = result.pop("timings"), result.pop("forward_ms"), result.pop("loads")
    result["models_ms"] = models_ms
    result["load_average"] = {"mean": float(np.mean(loads)), "max": float(np.max(loads))}
    for kind in kinds:
        result[kind] = summarise(timings[kind])
    if forward_ms["text_encode"]:
        result["forwards"] = {name: {"median": median(v), "p95": p95(v)} for name, v in forward_ms.items()}
        text_models = result["forwards"]["text_encode"]["median"] + result["forwards"]["cross_score_32"]["median"]
        result["overhead"] = {
            "text": result["text"]["total"]["median"] / text_models,
            "image": result["image"]["total"]["median"] / result["forwards"]["image_encode"]["median"],
        }
    return result


def print_result(result: dict, kinds: list[str]) -> None:
    print(
        f"\n{result['profile']} profile, {result['catalog']}: {result['size']:,} books "
        f"(models {result['models_ms']:.0f} ms, store {result['open_ms']:.0f} ms, full-text index in step after "
        f"{result['fulltext_ready_ms']:.0f} ms (its sync {result['fulltext_sync_s']:.1f} s), first query "
        f"{result['first_query_ms']:.0f} ms; load average during it {result['load_average']['mean']:.2f}, "
        f"max {result['load_average']['max']:.2f})"
    )
    print(f"  {'query':6} " + " ".join(f"{stage:>19}" for stage in STAGES) + f" {'full-text share':>17}")
    for kind in kinds:
        cells = [f"{result[kind][s]['median']:8.1f} / {result[kind][s]['p95']:8.1f}" for s in STAGES]
        share = result[kind]["fulltext_share"]
        print(
            f"  {kind:6} " + " ".join(cells) + f"  {100 * share['median']:5.1f}% / {100 * share['p95']:5.1f}%"
            "   (median / p95: ms, share of the total)"
        )
        coverage = result[kind][FULLTEXT_COVERAGE]
        print(f"  {'':6} of which, inside merge, the full-text hits' coverage check: {coverage['median']:.1f} / "
              f"{coverage['p95']:.1f} ms")  # fmt: skip
    if "forwards" in result:
        forwards = ", ".join(f"{name} {v['median']:.1f} ms" for name, v in result["forwards"].items())
        print(f"  pure forwards (median): {forwards}")
        overhead = result["overhead"]
        print(f"  overhead (end-to-end / forwards): text {overhead['text']:.3f}, image {overhead['image']:.3f}")


def plot(results: list[dict], path: Path) -> None:
    """Left: end-to-end latency against catalog size. Right: the stages that grow with the catalog."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=90)
    for profile, style in (("clip", "-"), ("offline", "--")):
        for kind, marker in (("text", "o"), ("image", "s")):
            points = sorted((r["size"], r[kind]) for r in results if r["profile"] == profile and kind in r)
            if not points:
                continue
            sizes = [size for size, _ in points]
            label = f"{profile} {kind}" + (" (OCR)" if profile == "offline" and kind == "image" else "")
            line = left.plot(sizes, [t["total"]["median"] for _, t in points], style, marker=marker, label=label)
            color = line[0].get_color()
            left.plot(sizes, [t["total"]["p95"] for _, t in points], ":", marker=marker, color=color, alpha=0.4)
            if kind == "text":
                for stage, stage_marker in (("vector_search", "^"), ("fulltext_search", "v"), ("merge", "d")):
                    values = [t[stage]["median"] for _, t in points]
                    right.plot(sizes, values, style, marker=stage_marker, label=f"{profile} text: {stage}")
    for value, text in ((120, "clip text target 120 ms"), (60, "clip image target 60 ms")):
        left.axhline(value, color="grey", lw=0.8)
        left.text(1.02e3, value * 1.05, text, fontsize=7, color="grey")
    left.set_title("end to end, median (dotted: p95)", fontsize=9)
    right.set_title("stages that grow with the catalog, median", fontsize=9)
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("books in the catalog")
        axis.set_ylabel("ms")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7, loc="upper left")
    loads = [r["load_average"]["mean"] for r in results if "load_average" in r]
    figure.suptitle(
        f"Folio query latency, shortlist 50, 32 cross-scored, 2 cores, load average {min(loads):.1f}-{max(loads):.1f}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path)
    print(f"plot: {path}")


def store_argument(text: str) -> tuple[str, Path]:
    name, _, folder = text.partition("=")
    if not folder:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=DATA_DIR")
    return name, Path(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["clip", "offline"], choices=["clip", "offline"])
    parser.add_argument("--sizes", nargs="*", type=int, default=[1000, 10_000, 100_000], help="none: only --plot")
    parser.add_argument("--stores", nargs="*", type=store_argument, default=[], help="NAME=DATA_DIR: real catalogs")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS, help="which queries to time")
    parser.add_argument("--text-only", action="store_true", help="synthetic books without covers: text queries only")
    parser.add_argument("--queries", type=int, default=30, help="timed queries of each kind")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    parser.add_argument("--max-load", type=float, default=0.0, help="first wait until the load average is below")
    parser.add_argument("--results", type=Path, help="JSON file: merged with earlier results, used for --plot")
    parser.add_argument("--plot", type=Path, help="write a PNG of latency against catalog size")
    args = parser.parse_args()
    if args.text_only and args.kinds != ["text"]:
        parser.error("--text-only catalogs have no synthetic covers: time them with --kinds text")

    catalogs = {  # build what is missing before any timing
        profile: [synthetic_catalog(profile, size, args.bench_dir, not args.text_only) for size in args.sizes]
        + [real_catalog(profile, name, folder, args.bench_dir) for name, folder in args.stores]
        for profile in args.profiles
    }
    if args.max_load:
        wait_for_quiet(args.max_load, 20 * 60)
    print(machine_line())
    if args.plot and not args.sizes and not args.stores:
        return plot(json.loads(args.results.read_text()), args.plot)
    saved: list[dict] = json.loads(args.results.read_text()) if args.results and args.results.is_file() else []
    for profile in args.profiles:
        for result in measure(catalogs[profile], args.kinds, args.queries, args.warmup):
            print_result(result, args.kinds)
            saved = [r for r in saved if (r["profile"], r["size"]) != (profile, result["size"])] + [result]
    print(machine_line())
    if args.results:
        args.results.write_text(json.dumps(saved, indent=1))
    if args.plot:
        plot(saved, args.plot)


if __name__ == "__main__":
    main()
