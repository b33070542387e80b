"""The photos of evaluation reports, replayable: each photo's stage-2 candidates with their signals, as search saw them.

``python -m evaluation ... --tasks scene,absent_scene --report FILE`` keeps, for every photo, its stage-2 candidates
(in the result's order) with their signals, works and titles, the words read off the cover and how cleanly the
cover was found. That is all the photo's verdict reads (``multimodal.evidence``, ``multimodal.verdict``), so a
verdict can be chosen or fitted on reports without searching again (``benchmarks/tune_photo_evidence.py``,
``python -m evaluation.fit_verdict``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from multimodal.evidence import TUNING, CoverReading, PhotoEvidence, cover_reading, photo_evidence


@dataclass(eq=False)  # hashed by identity: photo_facts caches per photo
class Photo:
    catalog: str
    absent: bool  # a photo of a book held out of the store
    right_first: bool  # the right book (or a twin) ranked first
    candidates: dict[str, dict[str, float]]  # book id → signals, in the result's order
    region_confidence: float
    works: dict[str, str]  # book id → its work (reports before the work was kept: none)
    cover_text: str = ""
    titles: dict[str, str] = field(default_factory=dict)  # book id → its title as filed (older reports: none)
    sample: str = ""  # which sample of photos: "seed N", the report's seed

    @property
    def first(self) -> tuple[str, dict[str, float]]:
        return next(iter(self.candidates.items()))


def read_photos(paths: list[Path]) -> list[Photo]:
    photos = []
    for path in paths:
        report = json.loads(path.read_text())
        catalog = Path(report["catalog"]).parent.name
        sample = f"seed {report.get('seed', '?')}"
        for task in ("scene", "absent_scene"):
            for outcome in report["tasks"].get(task, {}).get("outcomes", []):
                kept = outcome.get("stage2_candidates", [])
                candidates = {c["book_id"]: c["signals"] for c in kept}
                works = {c["book_id"]: c["work"] for c in kept if "work" in c}
                titles = {c["book_id"]: c["title"] for c in kept if "title" in c}
                if candidates:
                    photos.append(
                        Photo(
                            catalog,
                            absent=task == "absent_scene",
                            right_first=outcome["rank"] == 1,
                            candidates=candidates,
                            region_confidence=outcome.get("cover_confidence", 0.0),
                            works=works,
                            cover_text=outcome["cover_text"],
                            titles=titles,
                            sample=sample,
                        )
                    )
    return photos


@cache
def photo_facts(photo: Photo) -> tuple[PhotoEvidence, CoverReading]:
    """The photo's evidence and what was read of its first hit, as search computes them (``Searcher.run``)."""
    evidence = photo_evidence(photo.candidates, photo.region_confidence, TUNING, photo.works)
    first_id, _ = photo.first
    # The title as filed, as search reads it; older reports kept only the work ("title / author", folded), whose
    # title has lost the punctuation that starts a subtitle, so a long title's main title read whole counts short.
    work_title, _, author = photo.works.get(first_id, "").partition(" / ")
    return evidence, cover_reading(photo.cover_text, photo.titles.get(first_id) or work_title, author)
