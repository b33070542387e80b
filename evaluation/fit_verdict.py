"""``python -m evaluation.fit_verdict`` — fit a photo's verdict (``multimodal.verdict``) on evaluation reports.

A photo's verdict says whether the photo identifies its first hit ("found") or is probably of a book the catalog
does not hold. Issue 12 asks two rates of it: photos of books held out of the store said to be no confident match
(≥ 0.90), and scene photos whose right book is first said to be found (≥ 0.95).

    python -m evaluation CATALOG ... --absent 0.1 --tasks scene,absent_scene --seed S --report tune-S-CATALOG.json
    python -m evaluation.fit_verdict tune-*.json --out multimodal/calibration/offline-verdict.json
    python -m evaluation.fit_verdict --check held-*.json          # the shipped verdict against the rules

Fitting: a photo whose verdict the covers found in it settle alone keeps that verdict
(``multimodal.evidence.settled_by_the_covers_found``: a cover verified as the photographed one, the first hit's
cover found beside it). Every other photo of the reports is a row of ``VERDICT_FEATURES`` (its evidence about its
first hit, computed as search computes it), labelled by whether that first hit is the photographed book (scene
photos ranking the right book first; held-out books' photos and wrong first hits are not). Boosted trees
(scikit-learn's ``HistGradientBoostingClassifier``, monotone where a feature has a direction) map the features to
the chance of "right". The threshold is chosen out of fold: each sample of photos (a seed) is predicted by trees
fitted on the other samples, and the threshold is the one whose worst sample stands furthest from both targets on
its worst catalog (``choose_threshold``; of thresholds within one photo of each other, the most cautious). The
rates it gives out of fold are printed beside the hand-written rules' (``multimodal.evidence.identifies``) on the
same photos, and kept in the file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.absent import FOUND_TARGET, NO_MATCH_TARGET
from evaluation.photo_reports import Photo, photo_facts, read_photos
from multimodal.evidence import settled_by_the_covers_found
from multimodal.verdict import (
    VERDICT_FEATURES,
    FittedVerdict,
    PhotoVerdict,
    RuleVerdict,
    Tree,
    verdict_features,
    verdict_for,
)

THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)
# Set, not tuned: shallow trees, slow learning, leaves of at least 20 photos.
TREE_SETTINGS = {"max_depth": 3, "max_iter": 150, "learning_rate": 0.05, "min_samples_leaf": 20, "random_state": 0}


@dataclass(frozen=True)
class Rates:
    no_match: float  # held-out books' photos said to be no confident match
    found: float  # right first hits said found
    absent: int
    right_first: int

    def __str__(self) -> str:
        no_match = f"no confident match {self.no_match:.3f} of {self.absent:>3}"
        return f"{no_match}   right first found {self.found:.3f} of {self.right_first:>3}"


def features_of(photo: Photo) -> list[float]:
    evidence, reading = photo_facts(photo)
    first_id, first = photo.first
    features = verdict_features(first_id, first, evidence, reading)
    return [features[name] for name in VERDICT_FEATURES]


def is_right(photo: Photo) -> bool:
    return not photo.absent and photo.right_first


def rates(photos: list[Photo], said_found: np.ndarray) -> dict[str, Rates]:
    """Per catalog: the two rates of issue 12 for these verdicts."""
    table = {}
    for catalog in sorted({photo.catalog for photo in photos}):
        chosen = [(photo, found) for photo, found in zip(photos, said_found, strict=True) if photo.catalog == catalog]
        absent = [found for photo, found in chosen if photo.absent]
        first = [found for photo, found in chosen if is_right(photo)]
        table[catalog] = Rates(1 - float(np.mean(absent or [0])), float(np.mean(first or [0])), len(absent), len(first))
    return table


def verdicts_of(verdict: PhotoVerdict, photos: list[Photo]) -> np.ndarray:
    said = []
    for photo in photos:
        evidence, reading = photo_facts(photo)
        first_id, first = photo.first
        said.append(verdict.identifies(first_id, first, evidence, reading))
    return np.array(said)


def fit_trees(x: np.ndarray, y: np.ndarray) -> Any:  # a scikit-learn model
    from sklearn.ensemble import HistGradientBoostingClassifier

    monotone = list(VERDICT_FEATURES.values())
    return HistGradientBoostingClassifier(monotonic_cst=monotone, **TREE_SETTINGS).fit(x, y)


def exported(
    model: Any, x: np.ndarray, threshold: float, profile: str, fitted_on: list[str], measured: dict[str, Any]
) -> FittedVerdict:
    """The fitted trees as data (``FittedVerdict``), checked to predict what scikit-learn predicts."""
    trees = []
    for (predictor,) in model._predictors:  # one tree an iteration (two classes)
        nodes = predictor.nodes
        trees.append(
            Tree(
                feature=[int(f) for f in nodes["feature_idx"]],
                threshold=[float(t) for t in nodes["num_threshold"]],
                left=[int(i) for i in nodes["left"]],
                right=[int(i) for i in nodes["right"]],
                is_leaf=[bool(leaf) for leaf in nodes["is_leaf"]],
                value=[float(v) for v in nodes["value"]],
            )
        )
    verdict = FittedVerdict(
        profile=profile,
        features=list(VERDICT_FEATURES),
        trees=trees,
        baseline=float(np.ravel(model._baseline_prediction)[0]),
        threshold=float(threshold),
        fitted_on=fitted_on,
        measured=measured,
    )
    ours = np.array([verdict.probability(dict(zip(VERDICT_FEATURES, row, strict=True))) for row in x])
    theirs = model.predict_proba(x)[:, 1]
    if not np.allclose(ours, theirs, atol=1e-9):
        raise RuntimeError(f"the exported trees predict otherwise than scikit-learn (by {np.abs(ours - theirs).max()})")
    return verdict


def settled_chances(photos: list[Photo]) -> np.ndarray:
    """1 or 0 for a photo whose verdict the covers found in it settle alone (``settled_by_the_covers_found``), else
    NaN: the trees are fitted on, and decide, only the others."""
    chances = []
    for photo in photos:
        evidence, _ = photo_facts(photo)
        first_id, first = photo.first
        settled = settled_by_the_covers_found(first_id, first, evidence)
        chances.append(np.nan if settled is None else float(settled))
    return np.array(chances)


def out_of_fold(photos: list[Photo], x: np.ndarray, y: np.ndarray, settled: np.ndarray) -> np.ndarray:
    """Each sample's photos predicted by trees fitted on the other samples (a settled photo: its verdict, 1 or 0)."""
    samples = np.array([photo.sample for photo in photos])
    if len(set(samples)) < 2:
        sys.exit("fit_verdict: the reports hold one sample of photos; out of fold needs two or more (other seeds)")
    chances = settled.copy()
    unsettled = np.isnan(settled)
    for sample in sorted(set(samples)):
        fit_on, held = unsettled & (samples != sample), unsettled & (samples == sample)
        chances[held] = fit_trees(x[fit_on], y[fit_on]).predict_proba(x[held])[:, 1]
    return chances


def margin(table: dict[str, Rates]) -> float:
    """The worst catalog's distance to the nearer target (negative: a target missed)."""
    return min(min(r.no_match - NO_MATCH_TARGET, r.found - FOUND_TARGET) for r in table.values())


def by_sample(photos: list[Photo], said_found: np.ndarray) -> dict[str, dict[str, Rates]]:
    samples = np.array([photo.sample for photo in photos])
    return {
        sample: rates([photo for photo, chosen in zip(photos, samples == sample, strict=True) if chosen],
                      said_found[samples == sample])
        for sample in sorted(set(samples))
    }  # fmt: skip


def choose_threshold(photos: list[Photo], chances: np.ndarray) -> float:
    """The threshold whose worst sample stands furthest from the targets on its worst catalog (``margin``): a
    threshold must hold on every sample of photos, not on their sum. Thresholds within one photo of the best (one
    photo of the smallest count of any sample and catalog) cannot be told apart; of those the most cautious is
    chosen — the one that says "found" least."""
    worst = {t: min(margin(table) for table in by_sample(photos, chances >= t).values()) for t in THRESHOLDS}
    counts = [n for table in by_sample(photos, chances >= 0.5).values() for r in table.values()
              for n in (r.absent, r.right_first) if n]  # fmt: skip
    one_photo = 1 / min(counts)
    best = max(worst.values())
    return float(max(t for t, value in worst.items() if value >= best - one_photo))


def print_rates(label: str, table: dict[str, Rates]) -> None:
    print(label)
    for catalog, row in table.items():
        print(f"  {catalog:<16} {row}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=Path, nargs="+")
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--out", type=Path, help="write the fitted verdict here (else only print its rates)")
    parser.add_argument("--check", action="store_true", help="measure the profile's shipped verdict, fit nothing")
    args = parser.parse_args()
    photos = read_photos(args.reports)
    print(f"{len(photos)} photos from {len(args.reports)} reports; samples: {sorted({p.sample for p in photos})}")
    rules = rates(photos, verdicts_of(RuleVerdict(), photos))
    print_rates("rules (multimodal.evidence.identifies), the reference", rules)
    if args.check:
        verdict = verdict_for(args.profile)
        if isinstance(verdict, RuleVerdict):
            sys.exit(f"fit_verdict: the profile {args.profile!r} has no fitted verdict")
        print_rates(f"fitted verdict (threshold {verdict.threshold})", rates(photos, verdicts_of(verdict, photos)))
        return
    x = np.array([features_of(photo) for photo in photos])
    y = np.array([is_right(photo) for photo in photos])
    settled = settled_chances(photos)
    unsettled = np.isnan(settled)
    print(f"{int(unsettled.sum())} photos not settled by the covers found in them, the trees are fitted on")
    chances = out_of_fold(photos, x, y, settled)
    threshold = choose_threshold(photos, chances)
    measured = rates(photos, chances >= threshold)
    label = "fitted, out of fold (each sample predicted by trees fitted on the other samples)"
    print_rates(f"{label}, threshold {threshold}", measured)
    for sample, table in by_sample(photos, chances >= threshold).items():
        print_rates(f"  {sample}", table)
    model = fit_trees(x[unsettled], y[unsettled])
    fitted_on = sorted({f"{photo.catalog} {photo.sample}" for photo in photos})  # the samples, by catalog
    measured_rates = {catalog: {k: round(v, 4) for k, v in row.__dict__.items()} for catalog, row in measured.items()}
    verdict = exported(model, x[unsettled], threshold, args.profile, fitted_on, measured_rates)
    if args.out:
        args.out.write_text(verdict.to_json() + "\n")
        print(f"wrote {args.out} ({len(verdict.trees)} trees)")


if __name__ == "__main__":
    main()
