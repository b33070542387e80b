"""How the offline profile's stage-2 weights for cover photos were chosen, on photos the evaluation never sees.

    python benchmarks/tune_cover_weights.py --books 300 --seed 2

For each catalog (the romance and genre covers of ../shared/data, already ingested into the given
stores — `python -m evaluation` does that), a seeded sample of books is photographed with
``--seed 2`` (the reported evaluation uses seed 1), each photo is searched once, and the signals of
the cross-scored candidates are kept. Every weighting of the grid then re-orders the same
candidates with ``multimodal.fusion.fuse``, and Recall@1 is printed for each catalog. The
weighting with the best worst-catalog Recall@1 is the one in ``multimodal/profiles/offline.json``.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path

from bench_common import ROOT

from evaluation.photos import cover_queries
from evaluation.tasks import TaskContext
from multimodal import open_search
from multimodal.fusion import fuse
from multimodal.profiles import load_profile
from multimodal.settings import Settings

DATA = ROOT.parent / "shared" / "data"
CATALOGS = {
    "romance": (DATA / "romance-covers" / "listings.csv", None, {"cover": "images/img_{ISBN}.jpg", "id": "ISBN"}),
    "genre": (
        DATA / "genre-covers" / "metadata.json",
        DATA / "genre-covers" / "images",
        {"id": "filename", "cover": "filename"},
    ),
}
BEFORE = {  # the stage-2 weights before this search
    "text_vs_text": 1.0,
    "title_match": 1.0,
    "image_vs_cover": 0.5,
    "perceptual": 0.5,
    "ocr_vs_text": 0.5,
    "ocr_title_match": 1.5,
}
GRID = {
    "image_vs_cover": (0.5, 1.0, 2.0),
    "perceptual": (0.5, 1.0),
    "ocr_vs_text": (0.0, 0.5),
    "ocr_title_match": (0.5, 1.0, 1.5),
}


@dataclass
class Searched:
    relevant: frozenset[str]
    stage1_first: str
    candidates: list[tuple[str, dict[str, float]]]  # the cross-scored books and their signals


def search_photos(catalog: str, data_dir: Path, books: int, seed: int) -> list[Searched]:
    path, images_dir, _columns = CATALOGS[catalog]
    settings = Settings(profile="offline", data_dir=data_dir)
    folio = open_search(settings)
    records = folio.records()
    context = TaskContext(records, path, images_dir, settings, books, seed, allow_outside=True, progress=False)
    queries = cover_queries(context)
    searched = []
    for query in queries:
        hits = folio.search(image=query.image, k=settings.cross_score_top, min_score=float("-inf")).hits
        first = next((hit.book_id for hit in hits if hit.stage1_rank == 1), "")
        scored = [(hit.book_id, hit.signals) for hit in hits if hit.stage2_score is not None]
        searched.append(Searched(query.relevant, first, scored))
    return searched


def recall_at_1(searched: list[Searched], weights: dict[str, float]) -> float:
    right = 0
    for query in searched:
        scores = fuse([signals for _, signals in query.candidates], weights)
        best = max(range(len(scores)), key=scores.__getitem__) if scores else None
        right += best is not None and query.candidates[best][0] in query.relevant
    return right / len(searched)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--romance-store", type=Path, default=Path("/tmp/final-romance"))
    parser.add_argument("--genre-store", type=Path, default=Path("/tmp/bench/genre"))
    args = parser.parse_args()
    stores = {"romance": args.romance_store, "genre": args.genre_store}
    searched = {name: search_photos(name, stores[name], args.books, args.seed) for name in CATALOGS}
    for name, queries in searched.items():
        stage1 = sum(query.stage1_first in query.relevant for query in queries) / len(queries)
        print(f"{name}: {len(queries)} photos, stage 1 Recall@1 {stage1:.3f}")
    rows = []
    for values in itertools.product(*GRID.values()):
        weights = {"text_vs_text": 1.0, "title_match": 1.0} | dict(zip(GRID, values, strict=True))
        recalls = {name: recall_at_1(queries, weights) for name, queries in searched.items()}
        rows.append((min(recalls.values()), recalls, dict(zip(GRID, values, strict=True))))
    profile = load_profile("offline").stage2_weights
    for label, weights in (("before (session 1)", BEFORE), ("in offline.json now", profile)):
        recalls = "  ".join(f"{name} {recall_at_1(queries, weights):.3f}" for name, queries in searched.items())
        print(f"weights {label}: {recalls}  {weights}")
    print("best worst-catalog Recall@1 after cross-scoring (weights of the image signals):")
    for worst, recalls, weights in sorted(rows, key=lambda row: -row[0])[:10]:
        print(f"  {worst:.3f}  " + "  ".join(f"{n} {r:.3f}" for n, r in recalls.items()) + f"  {weights}")


if __name__ == "__main__":
    main()
