"""Explaining a result in a reader's words: what each signal compares, which matched, which words are shared.

The signal labels live here, in one place, until the core's signal registry (multimodal/signals.py)
carries them; then they are read from it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from multimodal.search import Hit


@dataclass(frozen=True)
class Signal:
    group: str  # what a reader is told matched: "description", "title/author", "cover text" or "visual"
    measures: str
    threshold: float  # at or above this the signal counts as a match (signals live on different scales)


SIGNALS: dict[str, Signal] = {
    "title_match": Signal("title/author", "your words vs the title and author, word by word", 0.5),
    "title_search": Signal("title/author", "your words vs the title and author (fuzzy search)", 0.8),
    "text_vs_text": Signal("description", "your words vs the book's text (embeddings)", 0.4),
    "cross_encoder": Signal("description", "a cross-encoder reading your words with the book's text", 0.5),
    "ocr_title_match": Signal("cover text", "the text read on your cover vs the title and author", 0.5),
    "ocr_vs_text": Signal("cover text", "the text read on your cover vs the book's text", 0.5),
    "ocr_title_search": Signal("cover text", "the text read on your cover vs the title and author (fuzzy)", 0.8),
    "image_vs_cover": Signal("visual", "your picture vs the book's cover (embeddings)", 0.7),
    "perceptual": Signal("visual", "perceptual fingerprints of the two covers", 0.75),
    "text_vs_cover": Signal("visual", "your words vs the cover picture", 0.28),
    "image_vs_text": Signal("visual", "your picture vs the book's text", 0.28),
}
GROUP_ORDER = ("title/author", "cover text", "visual", "description")
STOPWORDS = frozenset(
    """a an and are as at be been but by for from had has have he her him his how i in into is it its me my no not of
    on one or our out over she so than that the their them then there they this to too two up was we were what when
    where which who whom why will with you your""".split()  # noqa: SIM905 -- a word list reads better as text
)
WORD = re.compile(r"\w+")


def signal_matched(name: str, value: float) -> bool:
    signal = SIGNALS.get(name)
    return signal is not None and value >= signal.threshold


def signal_measures(name: str) -> str:
    signal = SIGNALS.get(name)
    return signal.measures if signal else ""


def matched_groups(signals: dict[str, float]) -> list[str]:
    """The kinds of evidence that matched, e.g. ["cover text", "visual"]."""
    found = {SIGNALS[name].group for name, value in signals.items() if signal_matched(name, value)}
    return [group for group in GROUP_ORDER if group in found]


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
