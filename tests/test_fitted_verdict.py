"""The photo's fitted verdict (``multimodal.verdict``, fitted by ``python -m evaluation.fit_verdict``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation.fit_verdict import exported, fit_trees
from multimodal.evidence import CoverReading, cover_reading, photo_evidence
from multimodal.verdict import VERDICT_FEATURES, FittedVerdict, RuleVerdict, verdict_features, verdict_for

ROOT = Path(__file__).resolve().parent.parent
# Plausible ranges of each feature, to probe the shipped trees with.
RANGES = {
    "title_match": (0, 1), "title_match_lead": (-1, 1), "title_share": (0, 1), "label_letters": (0, 60),
    "explained_share": (0, 1), "legible_letters": (0, 200), "keypoints": (-1.5, 1), "keypoints_matched": (0, 1),
    "keypoints_lead": (-2, 2), "image_similarity": (-0.2, 1), "image_lead": (-1, 1), "decisive_image": (0, 1),
    "feature_votes": (0, 1), "feature_votes_lead": (-1, 1), "region_confidence": (0, 1), "pictured": (0, 1),
    "verified": (0, 1), "verified_as": (0, 1), "perceptual": (0, 1), "ocr_fulltext": (0, 1),
}  # fmt: skip


def random_features(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([[rng.uniform(*RANGES[name]) for name in VERDICT_FEATURES] for _ in range(n)])


def test_every_feature_has_a_probing_range() -> None:
    assert set(RANGES) == set(VERDICT_FEATURES)


def test_the_exported_trees_predict_what_scikit_learn_predicts_and_survive_json() -> None:
    rng = np.random.default_rng(0)
    x = random_features(rng, 400)
    names = list(VERDICT_FEATURES)
    y = (x[:, names.index("keypoints")] + x[:, names.index("title_match")] + rng.normal(0, 0.3, 400)) > 0.8
    model = fit_trees(x, y)
    verdict = FittedVerdict.from_json(exported(model, x, 0.5, "test", [], {}).to_json())
    ours = [verdict.probability(dict(zip(names, row, strict=True))) for row in x]
    assert np.allclose(ours, model.predict_proba(x)[:, 1], atol=1e-9)
    assert len(verdict.trees) == model.n_iter_


def test_the_offline_profile_has_a_fitted_verdict_and_clip_the_rules() -> None:
    assert isinstance(verdict_for("offline"), FittedVerdict)
    assert isinstance(verdict_for("clip"), RuleVerdict)  # no real weights here to fit it on


def test_more_evidence_for_the_first_hit_never_makes_the_shipped_verdict_less_sure() -> None:
    verdict = verdict_for("offline")
    assert isinstance(verdict, FittedVerdict)
    rng = np.random.default_rng(1)
    names = list(VERDICT_FEATURES)
    for row in random_features(rng, 200):
        for name, direction in VERDICT_FEATURES.items():
            if direction != 1:
                continue
            low, high = dict(zip(names, row, strict=True)), dict(zip(names, row, strict=True))
            low[name], high[name] = RANGES[name][0], RANGES[name][1]
            assert verdict.probability(high) >= verdict.probability(low) - 1e-12, name


def candidates_of(first: dict[str, float], others: int = 6) -> dict[str, dict[str, float]]:
    rest = {"image_vs_cover": 0.4, "perceptual": 0.5, "ocr_title_match": 0.0, "cover_features": 0.05}
    return {"first": first, **{f"other{i}": dict(rest, image_vs_cover=0.3 + 0.02 * i) for i in range(others)}}


def said_found(candidates: dict[str, dict[str, float]], reading: CoverReading, region: float = 0.0) -> bool:
    evidence = photo_evidence(candidates, region, works={book_id: book_id for book_id in candidates})
    return verdict_for("offline").identifies("first", candidates["first"], evidence, reading)


def test_the_shipped_verdict_finds_a_cover_verified_with_its_title_read() -> None:
    first = {"image_vs_cover": 0.7, "perceptual": 0.8, "ocr_title_match": 0.95, "cover_keypoints": 0.9,
             "cover_features": 1.0, "ocr_fulltext": 1.0}  # fmt: skip
    reading = cover_reading("THE MOONSTONE WILKIE COLLINS", "The Moonstone", "Wilkie Collins")
    assert said_found(candidates_of(first), reading, region=0.8)


def test_the_shipped_verdict_finds_nothing_in_a_photo_with_nothing_read_and_no_cover_found() -> None:
    first = {"image_vs_cover": 0.42, "perceptual": 0.5, "ocr_title_match": 0.0, "cover_keypoints": 0.0,
             "cover_features": 0.1}  # fmt: skip
    reading = cover_reading("", "The Moonstone", "Wilkie Collins")
    assert not said_found(candidates_of(first), reading)


def report(path: Path, seed: int, rng: np.random.Generator) -> None:
    """A tiny evaluation report: scenes whose right first hit's cover was verified and title read, photos of held-out
    books with neither."""
    outcomes = {"scene": [], "absent_scene": []}
    for task in outcomes:
        for i in range(30):
            right = task == "scene"
            first = {
                "image_vs_cover": rng.uniform(0.5, 0.9) if right else rng.uniform(0.2, 0.5),
                "ocr_title_match": rng.uniform(0.8, 1.0) if right else rng.uniform(0.0, 0.5),
                "cover_keypoints": rng.uniform(0.5, 1.0) if right else rng.uniform(-0.1, 0.2),
                "cover_features": 1.0,
            }
            kept = [{"book_id": f"b{i}", "work": f"book {i} / ", "title": f"Book {i}", "signals": first}]
            kept += [{"book_id": f"o{j}", "work": f"other {j} / ", "title": f"Other {j}",
                      "signals": {"image_vs_cover": 0.3, "ocr_title_match": 0.1, "cover_features": 0.1}}
                     for j in range(4)]  # fmt: skip
            text = f"BOOK {i} BY SOMEONE" if right else "UNRELATED WORDS"
            outcomes[task].append({"rank": 1 if right else None, "cover_text": text, "cover_confidence": 0.5,
                                   "stage2_candidates": kept})  # fmt: skip
    data = {"catalog": "/data/tiny/books.json", "seed": seed, "split": f"seed {seed}",
            "tasks": {task: {"outcomes": found} for task, found in outcomes.items()}}  # fmt: skip
    path.write_text(json.dumps(data))


@pytest.mark.slow
def test_fit_verdict_fits_on_reports_and_writes_a_verdict_that_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    paths = [tmp_path / f"seed{seed}.json" for seed in (2, 4)]
    for seed, path in zip((2, 4), paths, strict=True):
        report(path, seed, rng)
    out = tmp_path / "verdict.json"
    command = [sys.executable, "-m", "evaluation.fit_verdict", *map(str, paths), "--profile", "tiny", "--out", str(out)]
    printed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "rules (multimodal.evidence.identifies), the reference" in printed
    verdict = FittedVerdict.from_json(out.read_text())
    assert verdict.fitted_on == ["tiny seed 2", "tiny seed 4"]
    assert verdict.measured["tiny"]["found"] == 1.0 and verdict.measured["tiny"]["no_match"] == 1.0


def test_the_shipped_verdict_never_finds_a_first_hit_whose_cover_lies_beside_the_photographed_one() -> None:
    """Its title read whole was read off a neighbour: the covers found in the photo settle that, not the trees."""
    first = {"image_vs_cover": 0.5, "perceptual": 0.6, "ocr_title_match": 0.95, "cover_keypoints": -0.6,
             "cover_features": 1.0, "ocr_fulltext": 1.0}  # fmt: skip
    reading = cover_reading("THE MOONSTONE WILKIE COLLINS", "The Moonstone", "Wilkie Collins")
    assert not said_found(candidates_of(first), reading)
    verdict = verdict_for("offline")
    assert isinstance(verdict, FittedVerdict)
    evidence = photo_evidence(candidates_of(first), 0.0, works={})
    features = verdict_features("first", first, evidence, reading)
    assert verdict.probability(features) >= verdict.threshold  # the words alone would have said "found"
