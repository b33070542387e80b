"""The calibrated confidence: its mapping, tiers and verdicts, and the fit that produces it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

from evaluation.calibrate import Searched, fit, main, reliability, verdicts
from multimodal.confidence import (
    FEATURES,
    FOUND_AT,
    Calibration,
    assess,
    calibration_for,
    confidences,
    tier_of,
    verdict_of,
)


def hits(*pairs: tuple[float, float], right: int | None = None) -> list[SimpleNamespace]:
    """Hits with (score, relevance); ``right`` is the index of the right one, if any."""
    return [SimpleNamespace(score=s, relevance=r, phrase=0.0, right=i == right) for i, (s, r) in enumerate(pairs)]


def synthetic_queries(count: int, seed: int) -> list[Searched]:
    """Queries whose first hit is right more often the higher its relevance and margin; some books absent."""
    rng = random.Random(seed)
    searched = []
    for n in range(count):
        absent = n % 5 == 0
        relevance = rng.uniform(0.2, 0.95)
        margin = rng.uniform(0.0, 0.4)
        right = not absent and rng.random() < relevance * 0.6 + margin
        first = (0.5 + margin, relevance)
        following = [(0.5 - 0.05 * i, relevance * 0.7) for i in range(3)]
        searched.append(
            Searched(
                "synthetic", "absent" if absent else "known_item", hits(first, *following, right=0 if right else None)
            )
        )
    return searched


def test_unfitted_confidence_is_the_relevance_and_never_rises_down_the_list():
    unfitted = Calibration("clip")
    assert not unfitted.fitted
    assert confidences(hits((0.9, 0.4), (0.8, 0.7), (0.1, 0.2)), unfitted) == [0.4, 0.4, 0.2]


def test_tiers_and_verdicts():
    assert [tier_of(c) for c in (0.95, 0.9, 0.6, 0.2)] == ["found", "found", "likely", "possible"]
    assert verdict_of(["found", "likely", "possible"]) == "found"
    assert verdict_of(["found", "found"]) == "matches"  # two books both "it": not one clear answer
    assert verdict_of(["likely", "possible"]) == "matches"
    assert verdict_of(["possible", "possible"]) == "not_in_catalog"
    assert verdict_of([]) == "empty"


def test_the_fit_is_calibrated_on_held_out_queries_and_says_not_in_catalog_for_absent_books():
    calibration = fit(synthetic_queries(3000, seed=2), "synthetic", "synthetic")
    assert calibration.fitted and calibration.weights[0] > 0  # more relevance, more confidence
    held_out = synthetic_queries(2000, seed=1)
    for row in reliability(held_out, calibration):
        if row["hits"] >= 100:
            assert abs(row["mean_confidence"] - row["share_right"]) < 0.08, row
    counts = verdicts(held_out, calibration)
    absent = counts["absent, words"]
    assert absent["not_in_catalog"] / sum(absent.values()) > 0.5
    assert absent["found"] == 0


def test_assess_fills_the_fields_the_page_reads():
    result = SimpleNamespace(profile="no-such-profile", hits=hits((0.9, 0.95), (0.3, 0.4)), verdict="")
    assess(result)
    assert [hit.tier for hit in result.hits] == ["found", "possible"] and result.verdict == "found"
    assert calibration_for("no-such-profile") == Calibration("no-such-profile")


def test_calibrate_command_writes_a_calibration_that_loads(tmp_path: Path):
    report = {"catalog": "/x/romance-covers/listings.csv", "tasks": {}}
    for task in ("known_item", "absent"):
        queries = [q for q in synthetic_queries(600, seed=2) if (q.task == "absent") == (task == "absent")]
        outcomes = [{"top_hits": [vars(hit) for hit in query.hits]} for query in queries]
        report["tasks"][task] = {"outcomes": outcomes}
    (tmp_path / "tuning.json").write_text(json.dumps(report))
    out = tmp_path / "offline.json"
    assert (
        main(["--fit", str(tmp_path / "tuning.json"), "--check", str(tmp_path / "tuning.json"), "--out", str(out)]) == 0
    )
    loaded = Calibration(**json.loads(out.read_text()))
    assert loaded.fitted and "romance-covers/absent" in loaded.fitted_on
    assert loaded.features == list(FEATURES)
    assert 0.0 <= loaded.confidence([0.9, 0.3, 1.0, 0.0, 0.0, 0.0]) <= 1.0
    assert loaded.confidence([0.95, 0.4, 1.0, 0.0, 0.0, 0.0]) >= loaded.confidence([0.3, 0.0, 1.0, 0.0, 0.0, 0.0])


def test_a_fit_of_the_three_first_features_still_loads_and_weighs_only_those():
    older = Calibration("offline", weights=[4.0, 6.0, 3.0], bias=-6.0, knots_x=[0.0, 1.0], knots_y=[0.0, 1.0])
    assert older.confidence([0.9, 0.3, 1.0, 1.0, 1.0, 1.0]) == older.confidence([0.9, 0.3, 1.0, 0.0, 0.0, 0.0]) > 0.5


def photo_result(identified: bool, *pairs: tuple[float, float]) -> SimpleNamespace:
    return SimpleNamespace(profile="no-such-profile", hits=hits(*pairs), verdict="", cover_identified=identified)


def test_a_photo_is_found_exactly_when_its_evidence_identifies_the_first_hit():
    # Unfitted, the confidence is the relevance: high for both photos' first hits, low for the second.
    not_identified = assess(photo_result(False, (0.9, 0.97), (0.3, 0.4)))
    assert not_identified.verdict != "found" and not_identified.hits[0].tier == "likely"
    assert not_identified.hits[0].confidence < FOUND_AT
    identified = assess(photo_result(True, (0.9, 0.6), (0.8, 0.95)))
    assert identified.verdict == "found" and [hit.tier for hit in identified.hits] == ["found", "likely"]
    # A text query's verdict is the calibration's alone: the same hits are not "found".
    typed = assess(SimpleNamespace(profile="no-such-profile", hits=hits((0.9, 0.6), (0.8, 0.95)), verdict=""))
    assert typed.verdict != "found"


def test_the_fit_learns_from_whether_a_photo_identified_its_first_hit():
    rng = random.Random(2)
    searched = []
    for _ in range(1500):
        identified = rng.random() < 0.6
        right = rng.random() < (0.95 if identified else 0.3)
        first = (0.5 + rng.uniform(0, 0.2), rng.uniform(0.4, 0.8))
        task = "scene" if rng.random() < 0.8 else "absent_scene"
        found = hits(first, (0.4, 0.3), right=0 if right and task == "scene" else None)
        searched.append(Searched("synthetic", task, found, identified))
    calibration = fit(searched, "synthetic", "synthetic")
    assert calibration.weights[FEATURES.index("photo_identified")] > 1.0
