"""Explaining a result in a reader's words: what each signal compares, which matched, which words are shared.

What a signal compares and when it counts as a match are read from the core's signal registry
(multimodal/signals.py), so a newly registered signal is explained with no change here.
"""

from __future__ import annotations

import html
import re

from multimodal import Hit
from multimodal.signals import label, matched_groups

__all__ = ["highlight", "matched_groups", "query_words", "shared_words", "signal_matched", "signal_measures"]


STOPWORDS = frozenset(
    """a an and are as at be been but by for from had has have he her him his how i in into is it its me my no not of
    on one or our out over she so than that the their them then there they this to too two up was we were what when
    where which who whom why will with you your""".split()  # noqa: SIM905 -- a word list reads better as text
)
WORD = re.compile(r"\w+")


def signal_matched(name: str, value: float) -> bool:
    signal = label(name)
    return signal is not None and signal.matched(value)


def signal_measures(name: str) -> str:
    signal = label(name)
    return signal.compares if signal else ""


def query_words(*texts: str) -> frozenset[str]:
    """The words of a query worth highlighting: lower-cased, without the commonest English words."""
    return (
        frozenset(word for text in texts for word in (w.lower() for w in WORD.findall(text)) if len(word) > 1)
        - STOPWORDS
    )


def highlight(text: str, words: frozenset[str]) -> str:
    """``text`` as HTML, each of ``words`` in it wrapped in <mark>."""
    parts, end = [], 0
    for match in WORD.finditer(text):
        word = html.escape(match.group())
        parts += [
            html.escape(text[end : match.start()]),
            f"<mark>{word}</mark>" if match.group().lower() in words else word,
        ]
        end = match.end()
    parts.append(html.escape(text[end:]))
    return "".join(parts)


def shared_words(hit: Hit, words: frozenset[str]) -> list[str]:
    found = query_words(hit.title, hit.author, hit.description) & words
    return sorted(found)
