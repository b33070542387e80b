"""How the keypoint match's picture check (``keypoints.agreement``) tells the photographed cover from others.

For the scene photos of an evaluation report (``python -m evaluation … --tasks scene,absent_scene --report R``),
the photos are drawn again and each of their first stage-2 candidates is matched as search matches it
(``keypoints.match`` with the cover's thumbnail). Printed:

- the agreement of the covers matched at the photo's centre (``CoverMatch.photographed`` at least 0.1 without
  the check): the right cover's in scene photos, and any cover's in photos of books held out of the store;
- for a grid of the check's constants (``AGREEMENT_FLOOR``, ``AGREEMENT_FULL``, ``AGREEING_INLIERS``; set on the
  module for the replay), in how many scenes the right cover is verified (``photographed`` at least 0.5 and 0.3
  ahead of every other candidate's: ``evidence.verified_cover``; twins not told apart) and in how many
  photos of held-out books some cover is.

With ``--photo-features`` / ``--photo-sides`` (comma-separated), the photos are featurised again at each of those
counts and sides (``keypoints.PHOTO_FEATURES``, ``PHOTO_SIDE``) and the same two counts are printed for each, with
the check as search runs it: how many features a scene's photo needs for its cover to be verified.

    python benchmarks/picture_check.py CATALOG --map … --data-dir STORE --report tune-CATALOG.json
    python benchmarks/picture_check.py … --report tune-CATALOG.json --photo-features 1000,1500,2000 --photo-sides 640
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from scene_recall import open_photos, photos_parser

from evaluation.tasks import TASKS, TaskContext
from multimodal import keypoints
from multimodal.evidence import KEYPOINT_SIGNAL, verified_cover
from multimodal.folio import Folio
from multimodal.images import load_image
from multimodal.keypoints import CoverMatch, cover_thumbnail, match, photo_keypoints

CANDIDATES = 6  # the first stage-2 candidates of each photo matched again
CENTRED = 0.1  # a cover "matched at the centre": photographed() without the check at least this
GRID = [  # (floor, full, inliers); None: without the check
    (None, None, None),
    (0.3, 0.6, 12),
    (0.4, 0.7, 12),
    (0.5, 0.8, 12),
    (0.6, 0.9, 12),
    (0.5, 0.8, 15),
    (0.5, 0.8, 20),
]


def matches(folio: Folio, context: TaskContext, report: dict) -> list[tuple[str, str, list[tuple[str, CoverMatch]]]]:
    """(task, photographed book, [(candidate, its match)]) for every scene photo of the report."""
    books = {record.book_id: record for record in context.records}
    found = []
    for task in ("scene", "absent_scene"):
        outcomes = {outcome["book_id"]: outcome for outcome in report["tasks"].get(task, {}).get("outcomes", [])}
        for query in TASKS[task].make_queries(context) if outcomes else []:
            outcome = outcomes.get(query.book_id)
            if outcome is None or query.image is None:
                continue
            photo = photo_keypoints(load_image(query.image))
            candidates = []
            for candidate in outcome.get("stage2_candidates", [])[:CANDIDATES]:
                book = books.get(candidate["book_id"])
                cover = folio.searcher.cover_features.features(book) if book is not None else None
                if cover is not None:
                    candidates.append((book.book_id, match(photo, cover, lambda book=book: cover_thumbnail(book))))
            found.append((task, query.book_id, candidates))
    return found


def photo_settings(folio: Folio, context: TaskContext, report: dict, features: list[int], sides: list[int]) -> None:
    """The verified counts with the photos featurised at each count and side (the module's values set for the run)."""
    kept = (keypoints.PHOTO_FEATURES, keypoints.PHOTO_SIDE)
    print("photos featurised again (features, longest side): right cover verified in scenes / some cover verified")
    print("in the held-out books' photos:")
    for count in features:
        for side in sides:
            keypoints.PHOTO_FEATURES, keypoints.PHOTO_SIDE = count, side
            photos = matches(folio, context, report)
            right_verified = sum(verified(c, True) == book for task, book, c in photos if task == "scene")
            absent_verified = sum(bool(verified(c, True)) for task, _, c in photos if task == "absent_scene")
            print(f"  {count:>5} features, {side:>4} px   {right_verified:>4} / {absent_verified}")
    keypoints.PHOTO_FEATURES, keypoints.PHOTO_SIDE = kept


def verified(candidates: list[tuple[str, CoverMatch]], with_check: bool) -> str:
    """The candidate search would verify as the photographed cover (``evidence.verified_cover``), "" for none."""
    signals = {
        book_id: {KEYPOINT_SIGNAL: (found if with_check else replace(found, agreement=0.0)).photographed()}
        for book_id, found in candidates
    }
    return verified_cover(signals, {})


def main() -> None:
    parser = photos_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, required=True, help="its photos are drawn again (its seed and sample)")
    parser.add_argument("--photo-features", help="comma-separated feature counts to featurise the photos with")
    parser.add_argument("--photo-sides", help="comma-separated longest sides (pixels) to featurise the photos at")
    args = parser.parse_args()
    report = json.loads(args.report.read_text())
    args.seed, args.sample = report["seed"], report["sample"]
    folio, context = open_photos(args)
    if args.photo_features or args.photo_sides:
        features = [int(value) for value in (args.photo_features or str(keypoints.PHOTO_FEATURES)).split(",")]
        sides = [int(value) for value in (args.photo_sides or str(keypoints.PHOTO_SIDE)).split(",")]
        photo_settings(folio, context, report, features, sides)
        return
    photos = matches(folio, context, report)
    right, absent = [], []
    for task, book_id, candidates in photos:
        for candidate, found in candidates:
            if replace(found, agreement=0.0).photographed() >= CENTRED:
                if task == "absent_scene":
                    absent.append(found.agreement)
                elif candidate == book_id:
                    right.append(found.agreement)
    print(f"{args.report.name}: {len(photos)} photos (split {report['split']}, seed {report['seed']})")
    print("agreement of the covers matched at the photo's centre (10th / 50th / 90th percentile):")
    for label, values in (("the right cover, scene photos", right), ("any cover, photos of held-out books", absent)):
        shown = " / ".join(f"{value:.2f}" for value in np.percentile(values, [10, 50, 90])) if values else "-"
        print(f"  {label:<38} {len(values):>4}   {shown}")
    scenes = sum(task == "scene" for task, _, _ in photos)
    print(f"verified covers ({scenes} scene photos, {len(photos) - scenes} of held-out books):")
    print("  floor  full  inliers   scenes: right cover verified   held-out books: a cover verified")
    kept = (keypoints.AGREEMENT_FLOOR, keypoints.AGREEMENT_FULL, keypoints.AGREEING_INLIERS)
    for floor, full, inliers in GRID:
        if floor is not None:
            keypoints.AGREEMENT_FLOOR, keypoints.AGREEMENT_FULL, keypoints.AGREEING_INLIERS = floor, full, inliers
        with_check = floor is not None
        right_verified = sum(verified(c, with_check) == book for task, book, c in photos if task == "scene")
        absent_verified = sum(bool(verified(c, with_check)) for task, _, c in photos if task == "absent_scene")
        label = "no check" if floor is None else f"{floor:>5}  {full:>4}  {inliers:>7}"
        print(f"  {label:<22} {right_verified:>26}   {absent_verified:>32}")
    keypoints.AGREEMENT_FLOOR, keypoints.AGREEMENT_FULL, keypoints.AGREEING_INLIERS = kept


if __name__ == "__main__":
    main()
