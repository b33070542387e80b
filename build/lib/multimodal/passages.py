"""Description passages: what makes the end of a long description findable by the vectors.

A book's text vector reads its whole text (title, author, genre, description) only up to the text
encoder's window (``window_tokens``: MiniLM 256 word pieces, e5 512, CLIP 77); what lies beyond is
invisible to it. So a book whose text may not fit gets *passages*: overlapping runs of its
description's words, each small enough to be read whole, each embedded as ``"<title>. <words>"``
and stored in the ``<name>_passages`` collection (``multimodal.store``). The ``text_vs_text`` channel
(``multimodal.signals``) searches them with the book texts: each book counts at its best vector.

The rule, in words because words are what a catalog has (token counts differ by model and language):

- a text fits the window when it has at most ``window_tokens / TOKENS_PER_WORD`` words.
  ``TOKENS_PER_WORD = 3`` is above the worst rate measured on the real catalogs (MiniLM word pieces per
  word of an Italian description: median 2.17, max 2.66; e5 max 2.04; CLIP max 2.40), so a text
  that fits surely is read whole — MiniLM: 85 words, e5: 170, CLIP: 25;
- a book gets passages when its whole text does not fit; then every word of its description is in
  some passage;
- a passage is its title plus as many description words as fit (never fewer than half of what fits),
  and consecutive passages overlap by a quarter, so a sentence cut by one passage's end is whole in
  the next one.

``PASSAGE_RULE`` names this rule: it is part of a book's content hash (``ingest.mapper``), so changing
the rule re-embeds every book on the next ingest, as a model change does.
"""

from __future__ import annotations

from dataclasses import dataclass

from multimodal.records import BookRecord

TOKENS_PER_WORD = 3
OVERLAP_SHARE = 4  # consecutive passages share a quarter of their words
PASSAGE_RULE = f"passages-v1:window/{TOKENS_PER_WORD},overlap/{OVERLAP_SHARE}"
PASSAGE_MARK = "#p"  # a passage's id: "<book id>#p<index>"


@dataclass(frozen=True)
class Passage:
    """One passage of a book's description, as it is embedded and stored."""

    book_id: str
    index: int
    text: str

    @property
    def passage_id(self) -> str:
        return passage_id(self.book_id, self.index)


def passage_id(book_id: str, index: int) -> str:
    return f"{book_id}{PASSAGE_MARK}{index}"


def book_of(passage_id: str) -> str:
    """The book id of a passage id (the last mark is ours: a book id may contain one too)."""
    return passage_id.rpartition(PASSAGE_MARK)[0]


def words_read_whole(window_tokens: int) -> int:
    """How many words a text encoder with this window surely reads whole."""
    return window_tokens // TOKENS_PER_WORD


def passages(record: BookRecord, window_tokens: int) -> list[Passage]:
    """The passages of a book whose text does not fit the encoder's window; none for a book whose text fits."""
    fits = words_read_whole(window_tokens)
    words = record.description.split()
    if not words or len(record.document.split()) <= fits:
        return []
    title = record.title.strip()
    size = max(fits - len(title.split()), fits // 2)
    step = size - size // OVERLAP_SHARE
    starts = range(0, max(len(words) - size, 0) + step, step)  # the last passage reaches the last word
    return [
        Passage(record.book_id, index, f"{title}. {' '.join(words[start : start + size])}")
        for index, start in enumerate(starts)
    ]
