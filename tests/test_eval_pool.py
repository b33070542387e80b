"""``python -m evaluation.pool``: several samples' reports pooled by catalog, with intervals and the targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.pool import Count, pooled_lines, verdict


def outcome(task: str, rank: int | None, verdict: str = "found", reference_rank: int | None = 1) -> dict:
    return {"task": task, "query": "", "rank": rank, "verdict": verdict, "reference_rank": reference_rank}


def report(catalog: str, seed: int, scene: list[dict], absent: list[dict] = (), cover: list[dict] = ()) -> dict:
    tasks = {"scene": {"outcomes": scene}, "absent_scene": {"outcomes": list(absent)}}
    if cover:
        tasks["cover"] = {"outcomes": list(cover)}
    return {"catalog": f"/data/{catalog}/metadata.json", "seed": seed, "tasks": tasks}


def line(lines: list[str], catalog: str, rate: str) -> str:
    start = lines.index(next(text for text in lines if text.startswith(f"{catalog}:")))
    return next(text for text in lines[start + 1 :] if text.strip().startswith(rate))


def test_samples_are_pooled_by_catalog_and_counted_as_the_evaluation_counts():
    first = report(
        "genre-covers",
        3,
        [outcome("scene", 1), outcome("scene", 1, "not_in_catalog"), outcome("scene", 4), outcome("scene", None)],
        [outcome("absent_scene", 1, "not_in_catalog"), outcome("absent_scene", 1, "found")],
    )
    second = report(
        "genre-covers",
        8,
        [outcome("scene", 1), outcome("scene", 7, reference_rank=None)],
        [outcome("absent_scene", 1, "uncertain")],
    )
    other = report("romance-covers", 1, [outcome("scene", 1)] * 3)
    lines = pooled_lines([second, other, first])
    assert lines[0] == "genre-covers: 2 samples (seed 3, seed 8)"  # sorted by seed
    assert "0.500, 0.500 → pooled 0.500 (3/6)" in line(lines, "genre-covers", "scene R@1")
    assert "0.750, 0.500 → pooled 0.667 (4/6)" in line(lines, "genre-covers", "scene R@5")
    assert "pooled 0.667 (2/3)" in line(lines, "genre-covers", "found")  # of the three right first, two said found
    assert "pooled 0.667 (2/3)" in line(lines, "genre-covers", "no match")  # "uncertain" is no confident match
    assert "pooled 0.833 (5/6)" in line(lines, "genre-covers", "OCR + BM25 R@1")
    assert "NOT above OCR + BM25 (0.833)" in line(lines, "genre-covers", "scene R@1")
    assert "pooled 1.000 (3/3)" in line(lines, "romance-covers", "scene R@1")
    assert not any("frame-filling" in text for text in lines)  # no report has the cover task


def test_a_target_is_met_by_the_pooled_share_and_the_interval_is_said():
    assert Count(95, 100).interval()[0] < 0.95 < Count(95, 100).interval()[1]
    low, high = Count(1171, 1200).interval()
    assert 0.96 < low < 1171 / 1200 < high < 0.99
    assert verdict(0.96, 0.94, 0.97) == "not met"
    assert verdict(0.976, 0.966, 0.97) == "met (the interval reaches below it)"
    assert verdict(0.99, 0.98, 0.97) == "met"


def test_romance_covers_frame_filling_photos_have_their_own_target():
    cover = [outcome("cover", 1)] * 98 + [outcome("cover", 2)] * 2
    lines = pooled_lines([report("romance-covers", 1, [], cover=cover), report("genre-covers", 1, [], cover=cover)])
    assert "target ≥ 0.99: not met" in line(lines, "romance-covers", "frame-filling R@1")
    assert "target ≥ 0.97: met" in line(lines, "genre-covers", "frame-filling R@1")


def test_the_command_prints_the_pooled_figures(tmp_path: Path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report("italian-covers", 9, [outcome("scene", 1), outcome("scene", 2)])))
    printed = subprocess.run(
        [sys.executable, "-m", "evaluation.pool", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert printed.splitlines()[0] == "italian-covers: 1 sample (seed 9)"
    assert "scene R@5          1.000 → pooled 1.000 (2/2)" in printed


@pytest.mark.parametrize("hits", [0, 7])
def test_an_interval_holds_its_share(hits):
    low, high = Count(hits, 7).interval()
    assert low <= hits / 7 <= high
