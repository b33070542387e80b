"""Query latency by stage, at several catalog sizes, and the pipeline's overhead over its model forwards.

    python benchmarks/query_latency.py --profiles clip offline --sizes 1000 10000 100000 \
        --queries 30 --plot docs/query_latency.png

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
from pathlib import Path

import numpy as np
from bench_common import (
    BENCH_DIR,
    CROSS_SCORE_TOP,
    catalog_store,
    cover_path,
    machine_line,
    median,
    p95,
    romance_rows,
    text_queries,
    timed_ms,
    wait_for_quiet,
)

from multimodal import open_search
from multimodal.images import load_image
from multimodal.records import BookRecord
from multimodal.service import load_models

STAGES = ("encode", "vector_search", "fulltext_search", "merge", "cross_score", "total")


def documents_of(result) -> list[str]:
    """The book texts the cross-encoder read: the cross-scored hits come first in the result."""
    return [
        BookRecord(hit.book_id, hit.title, hit.author, hit.description, genre=hit.genre).document
        for hit in result.hits[:CROSS_SCORE_TOP]
    ]


def summarise(kind_timings: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    values = {stage: [timings.get(stage, 0.0) for timings in kind_timings] for stage in STAGES}
    return {stage: {"median": median(v), "p95": p95(v)} for stage, v in values.items()}


def measure(profile: str, sizes: list[int], queries: int, warmup: int, bench_dir: Path) -> list[dict]:
    """All sizes in one process with one set of models, queried in turn, so that load changes hit every size."""
    settings = {size: catalog_store(profile, size, bench_dir) for size in sizes}
    start = time.perf_counter()
    loaded = load_models(settings[sizes[0]])
    models_ms = (time.perf_counter() - start) * 1000
    models = loaded.models
    folios, inputs, results = {}, {}, {}
    for size in sizes:
        start = time.perf_counter()
        folios[size] = open_search(settings[size], models=models)
        open_ms = (time.perf_counter() - start) * 1000
        rows = romance_rows(min(size, 1431))
        texts = text_queries(rows, queries + warmup)
        images = [cover_path(row).read_bytes() for row in rows[:: max(1, len(rows) // (queries + warmup))]]
        inputs[size] = (texts, images[: queries + warmup])
        start = time.perf_counter()
        folios[size].search(texts[0], k=CROSS_SCORE_TOP)
        results[size] = {
            "profile": profile,
            "size": folios[size].store.count(),
            "models_ms": models_ms,
            "open_ms": open_ms,
            "first_query_ms": (time.perf_counter() - start) * 1000,
            "timings": {"text": [], "image": []},
            "forward_ms": {"text_encode": [], "image_encode": [], "cross_score_32": []},
            "loads": [],
        }

    for i in range(queries + warmup):
        for size in sizes:
            folio, (texts, images), result = folios[size], inputs[size], results[size]
            text_result = folio.search(texts[i], k=CROSS_SCORE_TOP)
            image_result = folio.search(image=images[i])
            if i < warmup:
                continue
            result["loads"].append(os.getloadavg()[0])
            result["timings"]["text"].append(text_result.timings_ms)
            result["timings"]["image"].append(image_result.timings_ms)
            if profile != "clip":
                continue
            pixels = models.image_encoder.prepare(load_image(images[i]))
            documents = documents_of(text_result)
            forwards = result["forward_ms"]
            forwards["text_encode"] += timed_ms(lambda: models.text_encoder.encode_texts([texts[i]]), 1)  # noqa: B023
            forwards["image_encode"] += timed_ms(lambda: models.image_encoder.encode_prepared([pixels]), 1)  # noqa: B023
            forwards["cross_score_32"] += timed_ms(lambda: models.cross_scorer.score(texts[i], documents), 1)  # noqa: B023

    summaries = []
    for size in sizes:
        result = results[size]
        timings, forward_ms, loads = result.pop("timings"), result.pop("forward_ms"), result.pop("loads")
        result["load_average"] = {"mean": float(np.mean(loads)), "max": float(np.max(loads))}
        result["text"], result["image"] = summarise(timings["text"]), summarise(timings["image"])
        if profile == "clip":
            result["forwards"] = {name: {"median": median(v), "p95": p95(v)} for name, v in forward_ms.items()}
            text_models = result["forwards"]["text_encode"]["median"] + result["forwards"]["cross_score_32"]["median"]
            result["overhead"] = {
                "text": result["text"]["total"]["median"] / text_models,
                "image": result["image"]["total"]["median"] / result["forwards"]["image_encode"]["median"],
            }
        summaries.append(result)
    del folios
    gc.collect()
    return summaries


def print_result(result: dict) -> None:
    print(
        f"\n{result['profile']} profile, {result['size']:,} books "
        f"(models {result['models_ms']:.0f} ms, store {result['open_ms']:.0f} ms, first query "
        f"{result['first_query_ms']:.0f} ms; load average during it {result['load_average']['mean']:.2f}, "
        f"max {result['load_average']['max']:.2f})"
    )
    print(f"  {'query':6} " + " ".join(f"{stage:>19}" for stage in STAGES))
    for kind in ("text", "image"):
        cells = [f"{result[kind][s]['median']:8.1f} / {result[kind][s]['p95']:8.1f}" for s in STAGES]
        print(f"  {kind:6} " + " ".join(cells) + "   (median / p95 ms)")
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
            points = sorted((r["size"], r[kind]) for r in results if r["profile"] == profile)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["clip", "offline"], choices=["clip", "offline"])
    parser.add_argument("--sizes", nargs="*", type=int, default=[1000, 10_000, 100_000], help="none: only --plot")
    parser.add_argument("--queries", type=int, default=30, help="timed queries of each kind")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    parser.add_argument("--max-load", type=float, default=0.0, help="first wait until the load average is below")
    parser.add_argument("--results", type=Path, help="JSON file: merged with earlier results, used for --plot")
    parser.add_argument("--plot", type=Path, help="write a PNG of latency against catalog size")
    args = parser.parse_args()

    for profile in args.profiles:  # build what is missing before any timing
        for size in args.sizes:
            catalog_store(profile, size, args.bench_dir)
    if args.max_load:
        wait_for_quiet(args.max_load, 20 * 60)
    print(machine_line())
    if args.plot and not args.sizes:
        return plot(json.loads(args.results.read_text()), args.plot)
    saved: list[dict] = json.loads(args.results.read_text()) if args.results and args.results.is_file() else []
    for profile in args.profiles:
        for result in measure(profile, args.sizes, args.queries, args.warmup, args.bench_dir):
            print_result(result)
            saved = [r for r in saved if (r["profile"], r["size"]) != (profile, result["size"])] + [result]
    print(machine_line())
    if args.results:
        args.results.write_text(json.dumps(saved, indent=1))
    if args.plot:
        plot(saved, args.plot)


if __name__ == "__main__":
    main()
