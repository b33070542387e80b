"""Fusing a candidate's signals into one score (to order by) and one relevance (to cut on).

Stage 1 fuses its channels by rank (``reciprocal_rank_fusion``), and stage 2 scores every channel's
first book whatever the others think (``shortlist_for_stage2``); stage 2 fuses all signals by value
(``fuse``).

Weights come from the profile and name registered signals (``multimodal.signals``); a weight for a
name the registry does not know is an error here too, not a signal silently left out.
"""

from __future__ import annotations

import numpy as np

from multimodal.errors import SignalError
from multimodal.signals import SIGNALS


def check_registered(weights: dict[str, float]) -> None:
    unknown = sorted(set(weights) - set(SIGNALS))
    if unknown:
        raise SignalError(f"weights for unregistered signal(s) {', '.join(unknown)}")


def relevance(signals: dict[str, float], weights: dict[str, float]) -> float:
    """How well a book matches in absolute terms: the weighted mean of its raw signals, in [0, 1].

    Fused scores are relative to the other candidates (the best of a nonsense query still scores
    high); relevance is not, so a minimum relevance can say "nothing matches". Only the signals
    this query has count (a text query has no picture signals), and only those whose value is an
    absolute one (``Signal.counts_in_relevance``: not a full-text score, relative to the query's best
    book; a quoted phrase only where it matched).
    """
    check_registered(weights)
    used = {
        name: weight
        for name, weight in weights.items()
        if name in signals and SIGNALS[name].counts_in_relevance(signals[name])
    }
    total = sum(used.values())
    return sum(min(max(signals[name], 0.0), 1.0) * weight for name, weight in used.items()) / total if total else 0.0


def fuse(signals: list[dict[str, float]], weights: dict[str, float]) -> list[float]:
    """Fuse each candidate's signals into one score in (0, 1).

    Signals live on different scales (CLIP image-to-image cosines sit near 1, image-to-text
    cosines near 0.25), so each signal is standardised over the candidates (z-score) before the
    weighted mean. Differences below a signal's ``min_spread`` are noise, not evidence: a signal that
    barely varies is not blown up to the scale of one that does. A candidate missing a signal (a book
    with no cover vector) gets that signal's lowest z. A weighted signal no candidate has (an
    image signal of a text query) does not count. The mean goes through a logistic, so 0.5 is an
    average candidate and a clear match is near 1.
    """
    check_registered(weights)
    fused = np.zeros(len(signals))
    total = 0.0
    for name, weight in weights.items():
        values = np.array([entry.get(name, np.nan) for entry in signals], dtype=np.float64)
        present = ~np.isnan(values)
        if not present.any():
            continue
        spread = max(values[present].std(), SIGNALS[name].min_spread)
        z = (values - values[present].mean()) / spread
        z[~present] = z[present].min()
        fused += weight * z
        total += weight
    fused = fused / total if total else fused
    return list(1.0 / (1.0 + np.exp(-fused)))


RRF_K = 60  # reciprocal-rank fusion's constant (Cormack, Clarke & Büttcher 2009): rank 1 counts 1/61, rank 10 1/70


def reciprocal_rank_fusion(rankings: dict[str, list[int]], weights: dict[str, float], size: int) -> list[float]:
    """Fuse channels by rank: each candidate's Σ weight / (RRF_K + rank) over the channels that rank it.

    Ranks, not values: a BM25 score, a cosine and a fingerprint similarity need no common scale, and
    a channel's first book counts as much whatever its raw score or the spread of the others. The sum
    is divided by what a book ranked first by every channel would get, so it is in [0, 1].
    ``rankings`` maps a signal name to candidate indices (in ``range(size)``), best first.
    """
    check_registered(weights)
    fused = np.zeros(size)
    best = 0.0
    for name, ranking in rankings.items():
        weight = weights.get(name, 0.0)
        if not ranking or weight <= 0:
            continue
        best += weight / (RRF_K + 1)
        for rank, candidate in enumerate(ranking, start=1):
            fused[candidate] += weight / (RRF_K + rank)
    return list(fused / best) if best else list(fused)


CHANNEL_HEAD = 3  # each channel's best this many reach stage 2, whatever the fusion of the others says


def channel_heads(rankings: dict[str, list[int]]) -> tuple[set[int], set[int]]:
    """Every channel's first book, and every channel's best ``CHANNEL_HEAD`` (the firsts among them)."""
    firsts = {ranking[0] for ranking in rankings.values() if ranking}
    return firsts, {i for ranking in rankings.values() for i in ranking[:CHANNEL_HEAD]}


def shortlist_for_stage2(order: list[int], rankings: dict[str, list[int]], size: int) -> list[int]:
    """The ``size`` candidates stage 2 scores, in ``order``: every channel's best ``CHANNEL_HEAD`` (its
    first first), then the best of ``order``.

    A book that one channel ranks at its head is scored by stage 2 whatever the other channels think (as
    long as ``size`` allows): a decisive match is never cut before the signals that can confirm it are
    computed. Not only the first: a photo's words also name the books around the cover ("Search the Dark"
    read beside *My Beautiful Enemy*), so the right book may be the cover-text channel's second.
    """
    firsts, heads = channel_heads(rankings)
    chosen = set([i for i in order if i in firsts][:size])
    chosen.update([i for i in order if i in heads and i not in chosen][: max(0, size - len(chosen))])
    for i in order:
        if len(chosen) >= size:
            break
        chosen.add(i)
    return [i for i in order if i in chosen]


def stage2_priority(top: list[int], rankings: dict[str, list[int]]) -> list[int]:
    """Stage 2's candidates in the order a costly signal scores them (``Signal.max_books``): every channel's
    first book, then the rest of every channel's head (``CHANNEL_HEAD``), then the others in ``top``'s order
    (stage 1's)."""
    firsts, heads = channel_heads(rankings)
    rest = [i for i in top if i not in heads]
    return [i for i in top if i in firsts] + [i for i in top if i in heads - firsts] + rest
