"""Plain reference rankers: what a ten-line baseline finds, printed beside Folio's figures.

``Bm25Reference`` is plain BM25 (``bm25s``) over chosen fields of each book — for typed queries
title, author and description — with the simplest tokenizer that copes with any language:
case and diacritics folded, words split on non-word characters. No stemming, no stop words, no
fusion, no models.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import bm25s
import numpy as np

from evaluation.tasks import Query, fold
from multimodal import BookRecord

TEXT_FIELDS = ("title", "author", "description")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG and logs every index build


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text))


class Bm25Reference:
    """Plain BM25 over ``fields`` of every book; a query is ranked by its text."""

    def __init__(self, records: Sequence[BookRecord], fields: Sequence[str] = TEXT_FIELDS) -> None:
        self.name = f"BM25 over {'+'.join(fields)}"
        self.ids = [record.book_id for record in records]
        documents = [tokens(" ".join(str(getattr(record, name) or "") for name in fields)) for record in records]
        self.retriever = bm25s.BM25()
        self.retriever.index([words or [""] for words in documents], show_progress=False)

    def rank(self, query: Query) -> list[str]:
        return self.rank_text(query.text)

    def rank_text(self, text: str) -> list[str]:
        words = tokens(text)
        if not words or not self.ids:
            return []
        scores = self.retriever.get_scores(words)
        order = np.argsort(-scores, kind="stable")
        return [self.ids[i] for i in order if scores[i] > 0]


def text_reference(records: Sequence[BookRecord]) -> Bm25Reference:
    """The reference row of the typed-query tasks: BM25 over title+author+description."""
    return Bm25Reference(records, TEXT_FIELDS)
