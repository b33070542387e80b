"""Fusing a candidate's signals into one score (to order by) and one relevance (to cut on).

Weights come from the profile and name registered signals (``multimodal.signals``); a weight for a
name the registry does not know is an error here too, not a signal silently left out.
"""

from __future__ import annotations

import numpy as np

from multimodal.errors import SignalError
from multimodal.signals import SIGNALS

MIN_SPREAD = 0.02  # signals are similarities in about [0, 1]


def check_registered(weights: dict[str, float]) -> None:
    unknown = sorted(set(weights) - set(SIGNALS))
    if unknown:
        raise SignalError(f"weights for unregistered signal(s) {', '.join(unknown)}")


def relevance(signals: dict[str, float], weights: dict[str, float]) -> float:
    """How well a book matches in absolute terms: the weighted mean of its raw signals, in [0, 1].

    Fused scores are relative to the other candidates (the best of a nonsense query still scores
    high); relevance is not, so a minimum relevance can say "nothing matches". Only the signals
    this query has count (a text query has no picture signals).
    """
    check_registered(weights)
    used = {name: weight for name, weight in weights.items() if name in signals}
    total = sum(used.values())
    return sum(min(max(signals[name], 0.0), 1.0) * weight for name, weight in used.items()) / total if total else 0.0


def fuse(signals: list[dict[str, float]], weights: dict[str, float]) -> list[float]:
    """Fuse each candidate's signals into one score in (0, 1).

    Signals live on different scales (CLIP image-to-image cosines sit near 1, image-to-text
    cosines near 0.25), so each signal is standardised over the candidates (z-score) before the
    weighted mean. Differences below ``MIN_SPREAD`` are noise, not evidence: a signal that barely
    varies is not blown up to the scale of one that does. A candidate missing a signal (a book
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
        spread = max(values[present].std(), MIN_SPREAD)
        z = (values - values[present].mean()) / spread
        z[~present] = z[present].min()
        fused += weight * z
        total += weight
    fused = fused / total if total else fused
    return list(1.0 / (1.0 + np.exp(-fused)))
