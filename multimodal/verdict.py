"""A photo's verdict: does the photo identify its first hit, or is it probably of a book the catalog does not hold?

The evidence a photo gives about its first hit (``multimodal.evidence``: how much of its title was read and how much
of what was read it explains, whether its cover was found in the photo point for point and how far ahead of other
works, how its picture compares, how many of the photo's features vote for it) is summed up as ``VERDICT_FEATURES``
(``verdict_features``). Two kinds of verdict read them, one per profile (``verdict_for``):

- **fitted** (``FittedVerdict``): what the covers found in the photo point for point settle alone is settled so
  (``evidence.settled_by_the_covers_found``: a cover verified as the photographed one; the first hit's own cover
  found beside it). Otherwise boosted decision trees map the features to the chance that the first hit is the
  photographed book, and the photo identifies it when that chance reaches the fitted ``threshold``. Fitted by
  ``python -m evaluation.fit_verdict`` on the evaluation's reports of simulated scene photos — photos of books in the
  store, and photos of books held out of it (``--absent``) — of several seeded samples, and reported on samples it
  was not fitted on (docs/evaluation.md). The trees are monotone where the evidence has a direction: more of the
  title read, the cover found more surely, a picture more alike, more of the photo's votes never make a photo
  identify its first hit less.
  The fitted numbers are data, one file per profile: ``multimodal/calibration/<profile>-verdict.json``.
- **rules** (``RuleVerdict``): the hand-written rules of ``multimodal.evidence.identifies``, for a profile with no
  fitted file (clip: no real weights here to fit it on).

The verdict is the photo's one notion of "confident": the result says "found" exactly when it holds
(``multimodal.confidence``).

The trees learned the signals as the search of their reports computed them: a change to a photo's signals (a
channel, a weight, the localiser, the OCR) calls for the evaluation's scene reports to be run again and the verdict
refitted on them. ``python -m evaluation`` prints both rates with every scene run, so a verdict that no longer fits
shows there; ``python -m evaluation.fit_verdict --check REPORTS`` compares it with the rules on the same photos.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Protocol

from multimodal.evidence import (
    FEATURES_SIGNAL,
    KEYPOINT_SIGNAL,
    CoverReading,
    PhotoEvidence,
    identifies,
    settled_by_the_covers_found,
)

NOT_MATCHED = -1.5  # the keypoint feature of a cover that was not matched point for point (no readable cover)
LETTERS_CAP = 60.0  # letters counted up to this: more say nothing more
LEGIBLE_CAP = 200.0

# Each feature, and its direction: +1 where more of it may never lower the chance that the first hit is right
# (a monotone constraint of the fit), 0 where the fit learns the direction.
VERDICT_FEATURES: dict[str, int] = {
    "title_match": 1,  # the first hit's ocr_title_match: its title and author matched to the words read
    "title_match_lead": 1,  # ... over the best candidate of another work
    "title_share": 1,  # the share of its title read (``CoverReading``)
    "label_letters": 1,  # the letters of its title and author read
    "explained_share": 1,  # the share of the words read that are its title and author
    "legible_letters": 0,  # the letters read in words of four letters or more, any book's
    "keypoints": 1,  # its cover_keypoints: verified at the photo's centre (> 0) or beside it (< 0); NOT_MATCHED
    "keypoints_matched": 0,  # whether its cover was matched point for point at all
    "keypoints_lead": 1,  # its cover_keypoints over another work's best
    "image_similarity": 1,  # its image_vs_cover
    "image_lead": 1,  # ... over another work's best
    "decisive_image": 1,  # how far the best cover stands out (``PhotoEvidence.decisive_image``)
    "feature_votes": 1,  # its share of the photo's features (cover_features, relative to the best book's)
    "feature_votes_lead": 1,  # ... over another work's best
    "region_confidence": 0,  # how cleanly the cover was found in the photo (0: the whole photo was used)
    "pictured": 1,  # its cover is the one the photo's cover looks most like
    "verified": 0,  # some cover was verified as the photographed one
    "verified_as": 1,  # ... and it is this book's (or a twin's)
    "perceptual": 0,  # its perceptual hash similarity
    "ocr_fulltext": 0,  # the full-text engine's score of the words read against its record
}


def verdict_features(
    first_id: str, first: Mapping[str, float], evidence: PhotoEvidence, reading: CoverReading
) -> dict[str, float]:
    """The photo's evidence about its first hit (``first``: its stage-2 signals), as ``VERDICT_FEATURES``."""
    keypoints = first.get(KEYPOINT_SIGNAL)
    title_match = first.get("ocr_title_match", 0.0)
    votes = first.get(FEATURES_SIGNAL, 0.0)
    return {
        "title_match": title_match,
        "title_match_lead": evidence.text_lead(first_id, title_match),
        "title_share": reading.title_share,
        "label_letters": min(reading.label_letters, LETTERS_CAP),
        "explained_share": reading.explained,
        "legible_letters": min(reading.legible_letters, LEGIBLE_CAP),
        "keypoints": NOT_MATCHED if keypoints is None else keypoints,
        "keypoints_matched": float(keypoints is not None),
        "keypoints_lead": evidence.keypoints_lead(first_id, -1.0 if keypoints is None else keypoints),
        "image_similarity": first.get("image_vs_cover", 0.0),
        "image_lead": evidence.image_lead(first_id, first.get("image_vs_cover", -1.0)),
        "decisive_image": evidence.decisive_image,
        "feature_votes": votes,
        "feature_votes_lead": evidence.votes_lead(first_id, votes),
        "region_confidence": evidence.region_confidence,
        "pictured": float(evidence.pictured(first_id)),
        "verified": float(evidence.verified),
        "verified_as": float(evidence.verified_as(first_id)),
        "perceptual": first.get("perceptual", 0.0),
        "ocr_fulltext": first.get("ocr_fulltext", 0.0),
    }


class PhotoVerdict(Protocol):
    kind: str

    def identifies(
        self, first_id: str, first: Mapping[str, float], evidence: PhotoEvidence, reading: CoverReading
    ) -> bool: ...


@dataclass(frozen=True)
class RuleVerdict:
    """The hand-written rules (``multimodal.evidence.identifies``)."""

    kind: str = "rules"

    def identifies(
        self, first_id: str, first: Mapping[str, float], evidence: PhotoEvidence, reading: CoverReading
    ) -> bool:
        return identifies(first_id, first, evidence, reading=reading)


@dataclass(frozen=True)
class Tree:
    """One fitted decision tree: node i tests ``features[feature[i]] <= threshold[i]`` (then ``left[i]``, else
    ``right[i]``) unless it is a leaf, whose ``value[i]`` adds to the log-odds."""

    feature: list[int]
    threshold: list[float]
    left: list[int]
    right: list[int]
    is_leaf: list[bool]
    value: list[float]

    def __call__(self, x: Sequence[float]) -> float:
        node = 0
        while not self.is_leaf[node]:
            node = self.left[node] if x[self.feature[node]] <= self.threshold[node] else self.right[node]
        return self.value[node]


@dataclass(frozen=True)
class FittedVerdict:
    """Boosted trees over ``features`` (the log-odds: ``baseline`` plus each tree's leaf), "found" at ``threshold``."""

    profile: str
    features: list[str]
    trees: list[Tree]
    baseline: float
    threshold: float
    fitted_on: list[str] = field(default_factory=list)  # the samples of photos it was fitted on, by catalog
    measured: dict[str, dict[str, float]] = field(default_factory=dict)  # its rates, out of fold, per catalog
    kind: str = "fitted"

    def probability(self, features: Mapping[str, float]) -> float:
        x = [features[name] for name in self.features]
        log_odds = self.baseline + sum(tree(x) for tree in self.trees)
        return 1.0 / (1.0 + math.exp(-log_odds))

    def identifies(
        self, first_id: str, first: Mapping[str, float], evidence: PhotoEvidence, reading: CoverReading
    ) -> bool:
        settled = settled_by_the_covers_found(first_id, first, evidence)
        if settled is not None:
            return settled
        return self.probability(verdict_features(first_id, first, evidence, reading)) >= self.threshold

    def to_json(self) -> str:
        data = {key: value for key, value in self.__dict__.items() if key not in ("trees", "kind")}
        data["trees"] = [tree.__dict__ for tree in self.trees]
        return json.dumps(data, indent=None, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FittedVerdict:
        data = json.loads(text)
        data["trees"] = [Tree(**tree) for tree in data["trees"]]
        return cls(**data)


def verdict_file(profile: str) -> str:
    return f"{profile}-verdict.json"


@cache
def verdict_for(profile: str) -> PhotoVerdict:
    """The profile's fitted verdict (``multimodal/calibration/<profile>-verdict.json``), else the rules."""
    path = resources.files("multimodal.calibration") / verdict_file(profile)
    if not path.is_file():
        return RuleVerdict()
    return FittedVerdict.from_json(path.read_text())
