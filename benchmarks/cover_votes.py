"""The cover-features channel alone: where the photographed cover ranks by votes, exact and with an inverted file.

    python benchmarks/cover_votes.py ../shared/data/genre-covers/metadata.json --map id=filename \\
        --map cover=filename --images-dir ../shared/data/genre-covers/images --data-dir /tmp/pq/store-genre

The photos are the evaluation's scene photos (``python -m evaluation --tasks scene``: the same books, seeds and
other covers for the split and sample). For each, the photo's ORB features vote for the store's covers
(``multimodal.cover_features``), searched exactly (every cover's every feature) and with the inverted file search
uses beyond ``EXACT_UP_TO`` features, side by side in one run; the reference row is the image channel before
session 6: the chosen region's vector, the other regions, the best similarity over them (``Searcher.nearest``).
Printed: recall@1, @5, @50 (50 = a channel's shortlist) and the milliseconds of a search, with the load average.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

import faiss
import numpy as np
from scene_recall import open_photos, photos_parser, scenes

from multimodal import cover_features
from multimodal.images import load_image
from multimodal.keypoints import photo_keypoints
from multimodal.search import Shortlist

SHORTLIST = 50


def rank_of(found: list[str], relevant: frozenset[str]) -> int:
    return next((rank for rank, book_id in enumerate(found, start=1) if book_id in relevant), 10**6)


def main() -> None:
    args = photos_parser(__doc__.split("\n\n")[0]).parse_args()
    folio, context = open_photos(args)
    features = folio.searcher.cover_features.index
    _, owners, ids = features._search
    descriptors = np.vstack([features.entries[book_id].features.descriptors for book_id in ids])
    exact = faiss.IndexBinaryFlat(cover_features.BITS)
    exact.add(descriptors)
    started = time.perf_counter()
    saved = cover_features.EXACT_UP_TO
    cover_features.EXACT_UP_TO = 0  # the inverted file, whatever the store's size
    inverted = cover_features.binary_index(descriptors)
    cover_features.EXACT_UP_TO = saved
    built = time.perf_counter() - started
    lists = f"votes, inverted file ({inverted.nlist} lists, {inverted.nprobe} searched)"
    searches = {"votes, exact": exact, lists: inverted}
    ranks: dict[str, list[int]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    for relevant, scene in scenes(context, "scene"):
        photo = load_image(scene.jpeg)
        keypoints = photo_keypoints(photo)
        for name, searched in searches.items():
            features._search = (searched, owners, ids)
            started = time.perf_counter()
            found = [book_id for book_id, _ in features.vote(keypoints, SHORTLIST)]
            seconds[name].append(time.perf_counter() - started)
            ranks[name].append(rank_of(found, relevant))
        query = folio.searcher.encode("", photo)
        signal, vector = next((s, v) for s, v in folio.searcher.channels(query) if s.name == "image_vs_cover")
        nearest = folio.searcher.nearest(signal, vector, SHORTLIST, None, Shortlist(), query.image_regions)
        ranks["reference: the image channel (regions' vectors)"].append(rank_of(list(nearest), relevant))
    load = os.getloadavg()[0]
    print(f"{len(ranks['votes, exact'])} scene photos ({args.split} split), {len(ids)} covers, {len(descriptors):,} "
          f"features; inverted file built in {built:.1f} s; load {load:.1f}")  # fmt: skip
    print(f"{'':<62} R@1    R@5   R@50   search median / p95")
    for name, found in ranks.items():
        found = np.array(found)
        timing = ""
        if name in seconds:
            ms = 1000 * np.array(seconds[name])
            timing = f"{np.median(ms):6.1f} / {np.percentile(ms, 95):.1f} ms"
        recalls = "   ".join(f"{np.mean(found <= k):.2f}" for k in (1, 5, SHORTLIST))
        print(f"{name:<62} {recalls}   {timing}")


if __name__ == "__main__":
    main()
