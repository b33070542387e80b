"""Scoring and the printed report.

Recall@k is the share of queries whose right book is in the first k results; MRR is the mean of
1/rank (0 when the right book is not returned at all). Folio is scored after stage 1 (its order
without cross-scoring) and after cross-scoring, and the task's reference ranker on the same queries.
Latency is the wall-clock time of ``Folio.search`` on the query.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

RANKS = (1, 5, 10)


@dataclass
class Outcome:
    """Where the right book came in one search: Folio before (stage 1) and after cross-scoring, and the reference."""

    task: str
    book_id: str
    query: str
    stage1_rank: int | None
    rank: int | None
    ms: float
    stage1_ms: float
    reference_rank: int | None = None
    cover_text: str = ""
    top: str = ""  # the first hit, to read the misses
    top_hits: list[dict[str, Any]] = field(default_factory=list)  # the first hits' scores, for calibration
    conditions: dict[str, Any] = field(default_factory=dict)  # how a photo was taken (evaluation.photos)
    cover_identified: bool | None = None  # a photo query's result said the photo identifies its first hit
    verdict: str = ""  # the result's verdict (multimodal.confidence): "found" is the confident answer
    cover_region: str = ""  # where the photo's vectors came from: "cover" or "whole"
    cover_confidence: float = 0.0  # how cleanly the cover was found in the photo
    # A photo query's stage-2 candidates (book id, right or not, every signal), so that evidence weights and
    # identification thresholds can be replayed on a report without searching again (benchmarks/tune_photo_*.py).
    stage2_candidates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Scores:
    queries: int
    stage1: dict[str, float]
    cross_scored: dict[str, float]
    latency_ms: dict[str, float]
    reference: dict[str, float] | None = None


def rank_metrics(ranks: list[int | None]) -> dict[str, float]:
    if not ranks:
        return {}
    metrics = {f"R@{k}": sum(rank is not None and rank <= k for rank in ranks) / len(ranks) for k in RANKS}
    metrics["MRR"] = sum(1 / rank for rank in ranks if rank) / len(ranks)
    return {name: round(value, 4) for name, value in metrics.items()}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {"median": 0.0, "p95": 0.0}
    return {"median": round(statistics.median(values), 1), "p95": round(percentile(values, 0.95), 1)}


def score(outcomes: list[Outcome], with_reference: bool) -> Scores:
    return Scores(
        queries=len(outcomes),
        stage1=rank_metrics([outcome.stage1_rank for outcome in outcomes]),
        cross_scored=rank_metrics([outcome.rank for outcome in outcomes]),
        latency_ms={
            **latency([outcome.ms for outcome in outcomes]),
            **{f"stage1_{name}": value for name, value in latency([o.stage1_ms for o in outcomes]).items()},
        },
        reference=rank_metrics([outcome.reference_rank for outcome in outcomes]) if with_reference else None,
    )


def verdict(scores: dict[str, Any], metric: str = "R@1") -> str:
    """Folio (cross-scored) against the reference on one metric, said plainly."""
    reference = scores.get("reference")
    if not reference:
        return "no reference row for this task"
    folio, plain = scores["cross_scored"][metric], reference[metric]
    if folio > plain:
        return f"Folio beats the reference on {metric} ({folio:.3f} vs {plain:.3f})"
    if folio == plain:
        return f"Folio ties the reference on {metric} ({folio:.3f})"
    return f"Folio is BELOW the reference on {metric} ({folio:.3f} vs {plain:.3f})"


def task_lines(title: str, result: dict[str, Any], shown: tuple[str, ...]) -> list[str]:
    if "skipped" in result:
        return ["", f"{title}: skipped — {result['skipped']}"]
    scores = result["scores"]
    if "not_identified" in result:  # no right book: what counts is whether the result says so
        return ["", f"{title}: {scores['queries']} photos", *result.get("detail_lines", [])]
    rows = [("stage 1", scores["stage1"]), ("cross-scored", scores["cross_scored"])]
    if scores.get("reference"):
        rows.append((result["reference"], scores["reference"]))
    width = max(14, *(len(name) for name, _ in rows))
    lines = ["", f"{title}: {scores['queries']} queries", f"  {'':<{width}}" + "".join(f"{m:>8}" for m in shown)]
    lines += [f"  {name:<{width}}" + "".join(f"{values[m]:>8.3f}" for m in shown) for name, values in rows]
    lines.append(
        "  latency: median {median:.0f} ms, p95 {p95:.0f} ms "
        "(stage 1 only: median {stage1_median:.0f} ms, p95 {stage1_p95:.0f} ms)".format(**scores["latency_ms"])
    )
    lines.append(f"  {verdict(scores)}")
    return lines + result.get("detail_lines", [])


def table(report: dict[str, Any], titles: dict[str, str], shown: dict[str, tuple[str, ...]]) -> str:
    lines = [
        f"profile {report['profile']}; {report['store_books']} books in the store; "
        f"catalog {report['catalog']} ({report['catalog_books']} rows); "
        f"split: {report['split']} (seed {report['seed']}, sample {report['sample'] or 'all'})"
    ]
    for task, result in report["tasks"].items():
        lines += task_lines(titles.get(task, task), result, shown.get(task, ("R@1", "R@10", "MRR")))
    below = [task for task, result in report["tasks"].items() if "BELOW" in result.get("verdict", "")]
    if below:
        lines += ["", f"Folio is below the reference row on: {', '.join(below)}"]
    return "\n".join(lines)
