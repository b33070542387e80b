"""``python -m evaluation.calibrate`` — fit the confidence of ``multimodal.confidence`` and check it on held-out runs.

Reads evaluation reports (``python -m evaluation ... --report FILE``; each query's first hits with
their scores and whether they were right). ``--fit`` reports (the tuning split, seed 2) fit the
mapping: a logistic regression from a hit's features to "was it right?", calibrated by isotonic
regression, written to ``--out`` (``multimodal/calibration/<profile>.json``). ``--check`` reports
(the held-out split, seed 1) measure it: a reliability table (per confidence bin, how many hits and
what share were right), the verdicts on queries whose book is in the store and on those whose book
was held out of it (the not-in-catalog rate), and optionally a reliability plot.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from multimodal.confidence import (
    FEATURES,
    Calibration,
    calibration_for,
    confidences,
    hit_features,
    tier_of,
    verdict_of,
)

HITS_PER_QUERY = 3  # the first hits of each query are examples (the report keeps one more, for the margin)
BINS = np.linspace(0.0, 1.0, 11)


@dataclass
class Searched:
    """One evaluated query: which report and task, and its first hits."""

    catalog: str
    task: str
    hits: list[SimpleNamespace]  # score, relevance, right
    identified: bool | None = None  # a photo query: whether the photo identified its first hit

    @property
    def absent(self) -> bool:
        return self.task in ("absent", "absent_scene")  # the asked-for book is not in the store


def read_reports(paths: list[Path]) -> list[Searched]:
    searched = []
    for path in paths:
        report = json.loads(path.read_text())
        catalog = Path(report["catalog"]).parent.name or report["catalog"]
        for task, result in report["tasks"].items():
            for outcome in result.get("outcomes", []):
                # reports before the phrase feature have none: 0, as for a hit without the signal
                hits = [SimpleNamespace(**{"phrase": 0.0, **hit}) for hit in outcome.get("top_hits", [])]
                searched.append(Searched(catalog, task, hits, outcome.get("cover_identified")))
    return searched


def examples(searched: list[Searched]) -> tuple[np.ndarray, np.ndarray]:
    features, right = [], []
    for query in searched:
        for index in range(min(HITS_PER_QUERY, len(query.hits))):
            features.append(hit_features(query.hits, index, query.identified))
            right.append(bool(query.hits[index].right))
    return np.array(features), np.array(right)


def fit(searched: list[Searched], profile: str, described: str) -> Calibration:
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    features, right = examples(searched)
    logistic = LogisticRegression(C=10.0, max_iter=1000).fit(features, right)
    raw = logistic.predict_proba(features)[:, 1]
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, right)
    return Calibration(
        profile=profile,
        weights=[round(float(w), 6) for w in logistic.coef_[0]],
        bias=round(float(logistic.intercept_[0]), 6),
        knots_x=[round(float(x), 6) for x in isotonic.X_thresholds_],
        knots_y=[round(float(y), 6) for y in isotonic.y_thresholds_],
        fitted_on=described,
        features=list(FEATURES),
    )


def reliability(searched: list[Searched], calibration: Calibration) -> list[dict[str, Any]]:
    """Per confidence bin: the hits in it, their mean confidence and the share that were right."""
    pairs = []
    for query in searched:
        shown = confidences(query.hits, calibration, query.identified)[:HITS_PER_QUERY]
        pairs += [(confidence, bool(hit.right)) for confidence, hit in zip(shown, query.hits, strict=False)]
    rows = []
    for low, high in itertools.pairwise(BINS):
        inside = [(c, r) for c, r in pairs if low <= c < high or (high == 1.0 and c == 1.0)]
        if inside:
            rows.append(
                {
                    "bin": f"{low:.1f}–{high:.1f}",
                    "hits": len(inside),
                    "mean_confidence": round(float(np.mean([c for c, _ in inside])), 3),
                    "share_right": round(float(np.mean([r for _, r in inside])), 3),
                }
            )
    return rows


def verdicts(searched: list[Searched], calibration: Calibration) -> dict[str, Counter]:
    """Verdict counts for queries whose book is in the store (split by whether the first hit is right) and absent,
    each for typed words and for photos apart (a photo's verdict follows its own evidence)."""
    counts: dict[str, Counter] = {}
    for query in searched:
        verdict = verdict_of([tier_of(c) for c in confidences(query.hits, calibration, query.identified)])
        if query.absent:
            group = "absent"
        else:
            group = "first hit right" if query.hits and query.hits[0].right else "first hit wrong"
        kind = "photos" if query.identified is not None else "words"
        counts.setdefault(f"{group}, {kind}", Counter())[verdict] += 1
    return dict(sorted(counts.items()))


def print_check(searched: list[Searched], calibration: Calibration) -> None:
    print(f"\nreliability ({len(searched)} queries, the first {HITS_PER_QUERY} hits of each)")
    print(f"  {'confidence':<12}{'hits':>7}{'mean conf.':>12}{'share right':>13}")
    for row in reliability(searched, calibration):
        print(f"  {row['bin']:<12}{row['hits']:>7}{row['mean_confidence']:>12.3f}{row['share_right']:>13.3f}")
    print("\nverdicts")
    for group, counts in verdicts(searched, calibration).items():
        total = sum(counts.values())
        if total:
            shares = ", ".join(f"{name} {count / total:.3f}" for name, count in sorted(counts.items()))
            print(f"  {group:<24} {total:>5} queries: {shares}")
    by_task = Counter((query.catalog, query.task) for query in searched)
    print("\nqueries per catalog and task: " + ", ".join(f"{c}/{t} {n}" for (c, t), n in sorted(by_task.items())))


def plot(searched: list[Searched], calibration: Calibration, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = reliability(searched, calibration)
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    axes.plot([r["mean_confidence"] for r in rows], [r["share_right"] for r in rows], marker="o", label="Folio")
    for row in rows:
        axes.annotate(str(row["hits"]), (row["mean_confidence"], row["share_right"]), fontsize=7, xytext=(3, -9),
                      textcoords="offset points")  # fmt: skip
    axes.set(xlabel="confidence shown", ylabel="share of hits that were right", xlim=(0, 1), ylim=(0, 1))
    axes.set_title("Held-out reliability (hits per point)", fontsize=10)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", type=Path, nargs="*", default=[], help="reports of the tuning split to fit on")
    parser.add_argument("--check", type=Path, nargs="*", default=[], help="reports of the held-out split")
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--out", type=Path, help="where the fitted calibration goes")
    parser.add_argument(
        "--calibration", type=Path, help="check this calibration file (default: the one fitted, else the profile's)"
    )
    parser.add_argument("--plot", type=Path, help="write a reliability plot (PNG) of the checked reports")
    args = parser.parse_args(argv)
    calibration = calibration_for(args.profile)  # what search uses: the profile's shipped calibration
    if args.fit:
        tuning = read_reports(args.fit)
        described = f"{len(tuning)} queries of " + ", ".join(sorted({f"{q.catalog}/{q.task}" for q in tuning}))
        calibration = fit(tuning, args.profile, described)
        print(f"fitted on {described}\n  weights {dict(zip(FEATURES, calibration.weights, strict=True))}")
        if args.out:
            args.out.write_text(calibration.to_json() + "\n")
            print(f"  written to {args.out}")
    if args.calibration:
        calibration = Calibration(**json.loads(args.calibration.read_text()))
    if args.check:
        held_out = read_reports(args.check)
        print_check(held_out, calibration)
        if args.plot:
            plot(held_out, calibration, args.plot)
            print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
