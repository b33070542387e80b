"""Where the right cover ranks among the catalog's covers for each region of a scene photo one could search with.

    python benchmarks/scene_recall.py ../shared/data/genre-covers/metadata.json --map id=filename \\
        --map cover=filename --images-dir ../shared/data/genre-covers/images --data-dir /tmp/pq/store-genre

The photos are the evaluation's scene photos (``python -m evaluation --tasks scene``: the same books, seeds
and other covers for the split and sample), made again here to know the cover's true corners. Each region's
image vector (the store's profile: the offline profile's perceptual vector) is compared with every stored
cover, exactly; a book's rank is its place in that list (the right book: the photographed one or any book
with the same cover). Printed per region: recall@5 and @50 (50 = the image channel's shortlist):

- ``whole``: the whole photo; ``chosen region``: the region ``photo_query.read_photo`` chooses (the outline or
  the whole photo), which alone searched the covers before; ``search's regions``: every region it searches now;
- ``true cover``: the cover rectified from the simulator's corners (the ceiling of any localisation);
- ``outline k``: the k-th best outline (``localise.cover_outlines``), accepted or not;
- ``windows``: book-shaped crops on a grid (``localise.window_crops``);
- merged rows: several regions' nearest lists merged, each book at its best similarity over the regions.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from evaluation.photos import OTHER_COVERS, photographed_books
from evaluation.runner import EvalOptions, task_context
from evaluation.tasks import SPLIT_SEEDS, TaskContext, book_rng, book_seed, sampled
from ingest.readers import ColumnMap
from multimodal import localise
from multimodal.folio import Folio
from multimodal.images import load_image
from multimodal.photo import ScenePhoto, phone_photo, scene_photo
from multimodal.search import OTHER_REGION_HANDICAP
from multimodal.settings import Settings

SHORTLIST = 50
MARGINS = tuple(sorted({0.05, 0.1, 0.15, 0.2, OTHER_REGION_HANDICAP}))  # handicaps of the regions not used
WINDOWS = {  # name: the windows' heights (shares of the frame's) and stride (share of the window's side)
    "windows": (localise.WINDOW_HEIGHTS, localise.WINDOW_STRIDE),  # as search cuts them
    "windows 0.9/0.75/0.6/0.45, stride 0.33": ((0.9, 0.75, 0.6, 0.45), 0.33),
    "windows 0.9/0.75/0.6/0.45, stride 0.5": ((0.9, 0.75, 0.6, 0.45), 0.5),
    "windows 0.8/0.55, stride 0.5": ((0.8, 0.55), 0.5),
}


class CoverIndex:
    """Every stored cover vector, searched exactly (a book's full rank, not only the first n)."""

    def __init__(self, folio: Folio) -> None:
        ids = [record.book_id for record in folio.records() if record.has_cover]
        books = folio.store.fetch(ids)
        self.ids = [book_id for book_id in ids if books[book_id].cover_vector is not None]
        self.matrix = np.stack([books[book_id].cover_vector for book_id in self.ids]).astype(np.float32)

    def similarities(self, vectors: np.ndarray) -> np.ndarray:
        """(regions, books): cosine similarity of each region's vector with each cover."""
        return vectors @ self.matrix.T

    def rank(self, similarity: np.ndarray, relevant: frozenset[str]) -> int:
        """The right book's rank (1 = first) in a row of similarities."""
        best = max(similarity[i] for i, book_id in enumerate(self.ids) if book_id in relevant)
        return int(np.sum(similarity > best)) + 1 if np.isfinite(best) else 10**6


def top_only(rows: np.ndarray, n: int = SHORTLIST) -> np.ndarray:
    """Each region's similarities with only its n nearest covers kept (what a vector search returns), others -inf."""
    kept = np.full_like(rows, -np.inf)
    nearest = np.argsort(-rows, axis=1)[:, :n]
    np.put_along_axis(kept, nearest, np.take_along_axis(rows, nearest, axis=1), axis=1)
    return kept


def standardised(rows: np.ndarray, n: int = SHORTLIST) -> np.ndarray:
    """Each region's n nearest covers as standard scores within that list (how far a cover stands out of it)."""
    kept = top_only(rows, n)
    finite = np.where(np.isfinite(kept), kept, np.nan)
    return (kept - np.nanmean(finite, axis=1, keepdims=True)) / (np.nanstd(finite, axis=1, keepdims=True) + 1e-6)


def reciprocal_ranks(rows: np.ndarray, n: int = SHORTLIST, k: int = 60) -> np.ndarray:
    order = np.argsort(-rows, axis=1)[:, :n]
    votes = np.zeros(rows.shape[1])
    for row in order:
        votes[row] += 1 / (k + np.arange(1, len(row) + 1))
    return np.where(votes > 0, votes, -np.inf)


MERGES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "best similarity": lambda rows: top_only(rows).max(axis=0),
    "best standard score": lambda rows: standardised(rows).max(axis=0),
    "reciprocal ranks": reciprocal_ranks,
}


def scenes(context: TaskContext, kind: str) -> list[tuple[frozenset[str], ScenePhoto]]:
    """The evaluation's scene photos (``evaluation.photos.scene_query``) with their true corners, or its
    frame-filling photos (``cover_queries``; their true corners: the frame's)."""
    with_cover, relevant, fetcher = photographed_books(context)
    made = []
    for record in sampled(with_cover, context):
        cover, seed = load_image(fetcher.fetch(record.cover)), book_seed(context.seed, record.book_id)
        if kind == "frame-filling":
            jpeg = phone_photo(cover, seed)
            width, height = load_image(jpeg).size
            frame = np.array([(0, 0), (width, 0), (width, height), (0, height)], np.float64)
            made.append((relevant[record.book_id], ScenePhoto(jpeg, frame)))
            continue
        rng = book_rng(context.seed, record.book_id)
        around = [other for other in rng.sample(with_cover, OTHER_COVERS + 1) if other.book_id != record.book_id]
        others = [load_image(fetcher.fetch(other.cover)) for other in around[:OTHER_COVERS]]
        made.append((relevant[record.book_id], scene_photo(cover, seed, others)))
    return made


def region_images(photo: Image.Image, scene: ScenePhoto, folio: Folio) -> dict[str, list[Image.Image]]:
    """Each kind of region of one photo, as images to encode."""
    rgb = np.asarray(photo.convert("RGB"))
    outlines = localise.cover_outlines(photo, 8)
    regions: dict[str, list[Image.Image]] = {
        "whole": [photo],
        "true cover": [localise.rectify(rgb, scene.corners)],
        "outlines": [localise.rectify(rgb, outline.corners) for outline in outlines],
    }
    for name, (heights, stride) in WINDOWS.items():
        regions[name] = localise.window_crops(photo, heights, stride)
    return regions


def photos_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of a benchmark of the evaluation's photos: a catalog as ``python -m evaluation`` reads it, its
    ingested store, and the sample and split the photos are drawn for."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("catalog", type=Path)
    parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN")
    parser.add_argument("--images-dir", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True, help="an ingested store (read only)")
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--split", choices=sorted(SPLIT_SEEDS), default="tuning")
    parser.add_argument("--seed", type=int, help="draw the photos with this seed instead of the split's")
    return parser


def open_photos(args: argparse.Namespace) -> tuple[Folio, TaskContext]:
    """The store (offline profile) and the evaluation's task context for the catalog's stored books."""
    folio = Folio.open(Settings(profile="offline", data_dir=args.data_dir))
    columns = ColumnMap.from_arguments(args.map)
    seed = SPLIT_SEEDS[args.split] if args.seed is None else args.seed
    options = EvalOptions(args.catalog, columns, args.images_dir, args.sample, seed, progress=False)
    return folio, task_context(folio, options)


def main() -> None:
    parser = photos_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("scene", "frame-filling"), default="scene", help="the evaluation's photos")
    parser.add_argument("--merge", choices=sorted(MERGES), default="best similarity", help="how region lists merge")
    args = parser.parse_args()
    folio, context = open_photos(args)
    seed = context.seed
    index = CoverIndex(folio)
    encoder = folio.models.image_encoder
    ranks: dict[str, list[int]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    sets: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
        "whole + outlines 1-3": lambda s: np.vstack([s["whole"], s["outlines"][:3]]),
        "whole + outlines 1-8": lambda s: np.vstack([s["whole"], s["outlines"]]),
    }
    for windows in WINDOWS:
        sets[f"whole + outlines 1-3 + {windows}"] = lambda s, w=windows: np.vstack(
            [s["whole"], s["outlines"][:3], s[w]]
        )
    counts: dict[str, list[int]] = defaultdict(list)
    for relevant, scene in scenes(context, args.kind):
        photo = load_image(scene.jpeg)
        started = time.perf_counter()
        regions = region_images(photo, scene, folio)
        seconds["regions"].append(time.perf_counter() - started)
        started = time.perf_counter()
        vectors = {
            name: encoder.encode_images(images) if images else np.zeros((0, index.matrix.shape[1]), np.float32)
            for name, images in regions.items()
        }
        seconds["vectors"].append(time.perf_counter() - started)
        similarity = {name: index.similarities(found) for name, found in vectors.items()}
        query = folio.searcher.encode("", photo)
        ranks["chosen region (search's image signal before)"].append(
            index.rank(index.similarities(query.image_vector[None])[0], relevant)
        )
        used = index.similarities(query.image_vector[None])
        others = index.similarities(query.image_regions) if query.image_regions is not None else used[:0]
        for margin in (0.0, *MARGINS):
            name = f"search's regions, the others' similarity - {margin:.2f}"
            name += " (search now)" if margin == OTHER_REGION_HANDICAP else ""
            ranks[name].append(index.rank(MERGES[args.merge](np.vstack([used, others - margin])), relevant))
            counts[name].append(1 + len(others))
        for name in ("whole", "true cover"):
            ranks[name].append(index.rank(similarity[name][0], relevant))
        for k in range(3):
            has = k < len(similarity["outlines"])
            ranks[f"outline {k + 1}"].append(index.rank(similarity["outlines"][k], relevant) if has else 10**6)
        per_window = [index.rank(row, relevant) for row in similarity["windows"]]
        ranks["best single window (oracle pick)"].append(min(per_window, default=10**6))
        for name, regions_of in sets.items():
            rows = regions_of(similarity)
            counts[name].append(len(rows))
            ranks[name].append(index.rank(MERGES[args.merge](rows), relevant))
    load = os.getloadavg()[0]
    print(f"{len(ranks['whole'])} {args.kind} photos ({args.split} split, seed {seed}), {len(index.ids)} covers in "
          f"{args.data_dir}; load average {load:.1f}")  # fmt: skip
    regions_ms, vectors_ms = (1000 * np.median(seconds[name]) for name in ("regions", "vectors"))
    print(f"  regions {regions_ms:.0f} ms, vectors {vectors_ms:.0f} "
          f"ms per photo (median)")  # fmt: skip
    print(f"  {'region(s), merged by ' + args.merge:<62} R@5    R@{SHORTLIST}  median rank  regions")
    for name, found in ranks.items():
        got, regions = np.array(found), f"{np.mean(counts[name]):.0f}" if name in counts else "1"
        print(
            f"  {name:<62} {np.mean(got <= 5):.2f}   {np.mean(got <= SHORTLIST):.2f} {np.median(got):6.0f} {regions:>7}"
        )


if __name__ == "__main__":
    main()
