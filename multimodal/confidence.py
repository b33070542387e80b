"""How sure a result is: a calibrated confidence (0–1) and a tier per hit, and a verdict for the whole result.

A hit's confidence is the share of hits with such scores that were the right book, measured: on the
evaluation's queries of every catalog (typed queries, frame-filling and scene photos, and books held
out of the store so that nothing is right), a hit's features — its relevance (absolute match
strength), its score's margin over the next hit, whether it is first, whether the query was a photo,
whether the photo's own evidence identifies it (``multimodal.evidence.identifies``), and how much of the
typed words it holds verbatim as a phrase (``phrase_match``: a quoted line of its blurb) — were fitted
to "was it right?" by a logistic regression, whose output was then calibrated by isotonic regression
(``python -m evaluation.calibrate``). The fitted numbers are data, one file per profile in
``multimodal/calibration/``; they were fitted on the tuning split (seed 2) and are reported on the
held-out split (seed 1) in docs/app.md. A profile without a file (clip: no real weights here to fit
on) falls back to the relevance itself, said by ``Calibration.fitted`` being False.

Confidence never rises down the list (a hit's is capped by the one above it). Tiers: ``found`` (it is
this book: at least ``FOUND_AT``), ``likely`` (at least ``LIKELY_AT``), ``possible``. Verdict:
``found`` (the first hit is found and no other is), ``matches`` (some hit is found or likely),
``not_in_catalog`` (hits ranked, none found or likely), ``empty`` (nothing ranked).

**A photo has one notion of "confident".** Its first hit is ``found`` exactly when the photo identifies
it (``SearchResult.cover_identified``, the profile's verdict, ``multimodal.verdict``, chosen for the two rates
of issue 12: photos of books not in the store said to be no confident match, right first hits said to be
found); no other hit of a photo is ``found``. The calibrated number is kept where it agrees and moved to
the tier's edge where it does not, so the number, the tier and the verdict the reader sees say the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, Protocol

import numpy as np

Tier = Literal["found", "likely", "possible"]
Verdict = Literal["found", "matches", "not_in_catalog", "empty"]
FOUND_AT = 0.9  # "found": at least 9 in 10 hits at this confidence were the right book
LIKELY_AT = 0.5
TIER_THRESHOLDS: tuple[tuple[Tier, float], ...] = (("found", FOUND_AT), ("likely", LIKELY_AT))
FEATURES = ("relevance", "margin", "first", "photo", "photo_identified", "phrase")
BELOW_FOUND = round(FOUND_AT - 0.001, 4)  # the highest confidence that is not "found"


class Scored(Protocol):
    """What the confidence reads of a hit (``multimodal.search.Hit`` has it)."""

    score: float
    relevance: float
    phrase: float  # the hit's phrase_match (0 when its signal is absent)


def hit_features(hits: Sequence[Scored], index: int, identified: bool | None = None) -> list[float]:
    """The features of ``hits[index]`` in its list: relevance, score margin over the next hit, is it first, is the
    query a photo (``identified`` is not None), does the photo identify this hit (the first one), and its phrase
    match."""
    hit = hits[index]
    following = hits[index + 1].score if index + 1 < len(hits) else 0.0
    first = index == 0
    photo = identified is not None
    return [
        float(hit.relevance),
        float(hit.score) - float(following),
        1.0 if first else 0.0,
        1.0 if photo else 0.0,
        1.0 if first and identified else 0.0,
        float(hit.phrase),
    ]


@dataclass(frozen=True)
class Calibration:
    """A fitted mapping from a hit's features to the share of such hits that were right."""

    profile: str
    weights: list[float] = field(default_factory=list)  # logistic regression over FEATURES
    bias: float = 0.0
    knots_x: list[float] = field(default_factory=list)  # isotonic regression of the logistic's output
    knots_y: list[float] = field(default_factory=list)
    fitted_on: str = ""  # which evaluation runs (catalogs, tasks, split)
    features: list[str] = field(default_factory=lambda: list(FEATURES[:3]))  # what the weights weigh (older fits: 3)

    @property
    def fitted(self) -> bool:
        return bool(self.weights)

    def confidence(self, features: Sequence[float]) -> float:
        """``features`` in the order of ``FEATURES``; the fit weighs the ones it was fitted with."""
        if not self.fitted:
            return min(max(features[0], 0.0), 1.0)  # unfitted: the relevance
        weighed = [features[FEATURES.index(name)] for name in self.features]
        raw = 1.0 / (1.0 + np.exp(-(np.dot(self.weights, weighed) + self.bias)))
        return float(np.interp(raw, self.knots_x, self.knots_y))

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1)


@cache
def calibration_for(profile: str) -> Calibration:
    path = resources.files("multimodal.calibration") / f"{profile}.json"
    if not path.is_file():
        return Calibration(profile)
    return Calibration(**json.loads(path.read_text()))


def confidences(hits: Sequence[Scored], calibration: Calibration, identified: bool | None = None) -> list[float]:
    """Each hit's confidence, never rising down the list; for a photo (``identified`` not None), its first hit
    is "found" exactly when the photo identifies it, and no other hit is."""
    ceiling, found = 1.0, []
    for index in range(len(hits)):
        ceiling = min(ceiling, calibration.confidence(hit_features(hits, index, identified)))
        found.append(round(ceiling, 4))
    if identified is None or not found:
        return found
    first = max(found[0], FOUND_AT) if identified else min(found[0], BELOW_FOUND)
    return [first] + [min(value, BELOW_FOUND) for value in found[1:]]


def tier_of(confidence: float) -> Tier:
    return next((tier for tier, lowest in TIER_THRESHOLDS if confidence >= lowest), "possible")


def verdict_of(tiers: Sequence[Tier]) -> Verdict:
    if not tiers:
        return "empty"
    if tiers[0] == "found" and list(tiers).count("found") == 1:
        return "found"
    return "matches" if {"found", "likely"} & set(tiers) else "not_in_catalog"


def assess(result: Any) -> Any:
    """Fill each hit's ``confidence`` and ``tier`` and the result's ``verdict`` (in place; returns the result)."""
    identified = getattr(result, "cover_identified", None)  # a photo query's own evidence (multimodal.evidence)
    values = confidences(result.hits, calibration_for(result.profile), identified)
    for hit, value in zip(result.hits, values, strict=True):
        hit.confidence, hit.tier = value, tier_of(value)
    result.verdict = verdict_of([tier_of(value) for value in values])
    return result
