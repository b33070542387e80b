"""Issue 12's photo targets over several evaluation reports: each sample's figures, then all of them pooled.

    python -m evaluation.pool REPORT.json [REPORT.json ...]

One sample of 150 scene photos pins a rate down only to a few points: at 0.97 one photo is 0.007, and the 95 %
interval is about ±0.03 wide, so two samples of the same code can fall on either side of a target. The reports of
several samples (``python -m evaluation … --seed N --report FILE``) are therefore pooled, by catalog, and every
pooled rate is printed with its 95 % interval (Wilson's, from scipy). Pool only samples that nothing was tuned on.

The rates, as ``python -m evaluation`` counts them:

- scene R@1 and R@5: the right book first, or in the first five (targets 0.90 and 0.97);
- the OCR + plain BM25 reference row's R@1 on the same photos (scene R@1 must stand above it);
- found: of the scene photos whose right book is first, the share said "found" (≥ 0.95);
- no match: of the scene photos of books held out of the store, the share not said "found" (≥ 0.90);
- frame-filling R@1, when the reports have the ``cover`` task (≥ 0.99 on romance-covers, ≥ 0.97 on the others).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy.stats import binomtest

from evaluation.absent import FOUND_TARGET, NO_MATCH_TARGET

Outcome = dict[str, Any]  # one query's outcome, as a report stores it


@dataclass
class Count:
    """``hits`` of ``total`` queries."""

    hits: int = 0
    total: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(self.hits + other.hits, self.total + other.total)

    @property
    def share(self) -> float:
        return self.hits / self.total

    def interval(self) -> tuple[float, float]:
        """The share's 95 % interval (Wilson's score interval)."""
        found = binomtest(self.hits, self.total).proportion_ci(confidence_level=0.95, method="wilson")
        return float(found.low), float(found.high)


@dataclass(frozen=True)
class Rate:
    """One rate of a report: the task whose outcomes it counts, which of them count, and which are hits."""

    name: str
    task: str
    counted: Callable[[Outcome], bool]
    hit: Callable[[Outcome], bool]
    target: float | None  # the share issue 12 asks for at least (None: a reference, no target)

    def count(self, report: dict[str, Any]) -> Count | None:
        outcomes = [o for o in report["tasks"].get(self.task, {}).get("outcomes", []) if self.counted(o)]
        return Count(sum(map(self.hit, outcomes)), len(outcomes)) if outcomes else None


def within(k: int) -> Callable[[Outcome], bool]:
    return lambda outcome: outcome["rank"] is not None and outcome["rank"] <= k


def every(outcome: Outcome) -> bool:
    return True


REFERENCE = "OCR + BM25 R@1"  # scene R@1 must stand above it
RATES = [
    Rate("scene R@1", "scene", every, within(1), 0.90),
    Rate("scene R@5", "scene", every, within(5), 0.97),
    Rate(REFERENCE, "scene", every, lambda o: o["reference_rank"] == 1, None),
    Rate("found", "scene", within(1), lambda o: o["verdict"] == "found", FOUND_TARGET),
    Rate("no match", "absent_scene", lambda o: not o["query"], lambda o: o["verdict"] != "found", NO_MATCH_TARGET),
    Rate("frame-filling R@1", "cover", every, within(1), 0.97),
]
STRICTER = {("romance-covers", "frame-filling R@1"): 0.99}  # (catalog folder, rate) → its own target


def catalog_name(report: dict[str, Any]) -> str:
    """A catalog by its folder (``../shared/data/genre-covers/metadata.json`` → ``genre-covers``)."""
    return Path(report["catalog"]).parent.name


def sample_name(report: dict[str, Any]) -> str:
    return f"seed {report['seed']}"


def pooled_lines(reports: list[dict[str, Any]]) -> list[str]:
    """The printed figures: for each catalog and rate, each sample's share, then the pooled share, its interval and
    whether the target is met."""
    by_catalog: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for report in reports:
        by_catalog[catalog_name(report)].append(report)
    lines = []
    for catalog, chosen in sorted(by_catalog.items()):
        chosen = sorted(chosen, key=lambda report: report["seed"])
        plural = "s" if len(chosen) != 1 else ""
        lines.append(f"{catalog}: {len(chosen)} sample{plural} ({', '.join(sample_name(report) for report in chosen)})")
        pooled = {rate.name: counts for rate in RATES if (counts := sample_counts(rate, chosen))}
        for rate in RATES:
            if rate.name not in pooled:
                continue
            counts = pooled[rate.name]
            total = sum(counts, Count())
            low, high = total.interval()
            line = (
                f"  {rate.name:<18} {', '.join(f'{count.share:.3f}' for count in counts)} → pooled "
                f"{total.share:.3f} ({total.hits}/{total.total}), 95 % interval {low:.3f}–{high:.3f}"
            )
            target = STRICTER.get((catalog, rate.name), rate.target)
            if target is not None:
                line += f"; target ≥ {target:.2f}: {verdict(total.share, low, target)}"
            if rate.name == "scene R@1" and REFERENCE in pooled:
                reference = sum(pooled[REFERENCE], Count()).share
                line += f"; {'above' if total.share > reference else 'NOT above'} OCR + BM25 ({reference:.3f})"
            lines.append(line)
    return lines


def sample_counts(rate: Rate, reports: list[dict[str, Any]]) -> list[Count]:
    """The rate's count in each report that has its task."""
    return [count for report in reports if (count := rate.count(report)) is not None]


def verdict(share: float, low: float, target: float) -> str:
    if share < target:
        return "not met"
    return "met" if low >= target else "met (the interval reaches below it)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=Path, nargs="+", help="evaluation reports (python -m evaluation --report)")
    args = parser.parse_args()
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in args.reports]
    print("\n".join(pooled_lines(reports)))


if __name__ == "__main__":
    main()
