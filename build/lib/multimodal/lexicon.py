"""Word-aligned title/author matching: a stage-2 signal (the lexical retriever of stage 1 is the
full-text index, ``multimodal.fulltext``).

Readers type titles from memory (a dropped word, a typo, the author's surname only) and OCR reads
a cover's title and author with noise, among taglines and blurbs.

- ``title_match`` (stage 2, on the shortlist): the words of the query and of the book's title and
  author are aligned one by one, a misspelt word still counting for most of its length. The score
  is mostly the better of two coverages — the share of the query found in the book (what a reader
  types is part of the title and author) and the share of the book found in the query (a cover's
  text holds the title and author among other words) — and partly the other one, which prefers the
  book whose words the query uses most completely ("Blush" by the author typed over another "Blush").
  A title with a subtitle ("Zen e multiversi. Un viaggio nella fisica tra monaci e imperatori") is also
  matched by its main title alone (``title_variants``): a cover prints the subtitle small or not at all,
  and a reader types the main title. OCR runs a cover's words together ("GLIINTERNATI"): a word that
  matches two neighbouring words of the book written as one counts as both (``aligned_words``).
  Words are folded as the full-text index folds them: lower case, accents dropped — a reader types "perche" for
  "Perché", and OCR reads accents that are not there ("THE PIOÑÉERS").
- ``phrase_match`` (stage 2): the longest run of the query's words found word for word, in order, in
  the book's title, author or description — what a reader who quotes a line of the blurb types. A run
  of ``MIN_PHRASE_WORDS`` or more is a phrase; its share of the query (by word length) is the score.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from difflib import SequenceMatcher

import numpy as np
from rapidfuzz import fuzz, process, utils

from multimodal.records import BookRecord

MIN_FUZZY_LENGTH = 4  # shorter words ("a", "of", "the", "ann") must match exactly
MIN_WORD_SIMILARITY = 0.75  # below this two words are not the same word misspelt
LESSER_COVERAGE_WEIGHT = 0.2
# Words read on a cover that hold fewer letters than this of a book's title and author name nothing: OCR reads a
# stray "1", "o" or "THE" off a blurred cover or its background, and "#1", "O" and "The" are in many titles. Set,
# not tuned: the shortest titles a cover reading names on its own ("Dune", "Emma", "Omoo") have four. A reading
# with fewer letters in all is no reading (``photo_query.read_photo``).
MIN_COVER_LETTERS = 4
MIN_PHRASE_WORDS = 3  # fewer words in a row are a coincidence, not a quote ("of the", "love story")
# Where a subtitle starts: a colon, semicolon or dash between words, a bracket ("Plays (36)"), a question or
# exclamation mark followed by more words ("Che cos'è la vita? La cellula vivente …"), or a full stop after a word of
# four letters or more (not "Dr. Jekyll", "St. Nicholas").
SUBTITLE_START = re.compile(r"(?<=\w)[:;?!]\s+|(?<=\w{4})\.\s+|\s+[-–—]\s+|\s*[(\[]")


def label(record: BookRecord) -> str:
    return f"{record.title} {record.author}".strip()


MIN_MAIN_TITLE_WORDS = 2  # "Works [37 plays, 6 poems]", "Novels (…)": one generic word names no book


def title_variants(title: str) -> list[str]:
    """The title, and its main title when it has a subtitle: the words before the first ``SUBTITLE_START`` that
    follows ``MIN_MAIN_TITLE_WORDS`` words or more ("HELP! I'm Living with a (Man) Boy": before the bracket)."""
    for start in SUBTITLE_START.finditer(title):
        main = title[: start.start()].strip()
        if len(words(main)) >= MIN_MAIN_TITLE_WORDS:
            return [title, main]
    return [title]


def title_match(query: str, record: BookRecord) -> float:
    """Stage 2: agreement of a query (typed or read off a cover) with a book's title and author, in [0, 1]:
    the better of its full title's and its main title's (``title_variants``)."""
    asked = words(query)
    if not asked:
        return 0.0
    return max(label_match(asked, words(f"{title} {record.author}")) for title in title_variants(record.title))


def cover_title_match(cover_text: str, record: BookRecord) -> float:
    """``title_match`` of the words read on a cover, but 0 when they hold fewer than ``MIN_COVER_LETTERS`` letters
    of the book's title and author (a misspelt word counting for its similarity): a stray "1" read off a blurred
    cover is all of "Nightmare Hall #1"'s words that it holds, not a reading of that title."""
    asked = words(cover_text)
    if not asked:
        return 0.0
    agreements = (label_agreement(asked, words(f"{title} {record.author}")) for title in title_variants(record.title))
    return max((score for score, letters in agreements if letters >= MIN_COVER_LETTERS), default=0.0)


def label_match(asked: list[str], book: list[str]) -> float:
    return label_agreement(asked, book)[0]


def label_agreement(asked: list[str], book: list[str]) -> tuple[float, float]:
    """The match of the asked words with a book's words (``title_match``), and the letters of the book's words
    found among them."""
    if not book:
        return 0.0, 0.0
    asked_found, book_found = aligned_words(asked, book)
    found_in_book = coverage(asked, asked_found)
    found_in_query = coverage(book, book_found)
    better, lesser = max(found_in_book, found_in_query), min(found_in_book, found_in_query)
    score = (1 - LESSER_COVERAGE_WEIGHT) * better + LESSER_COVERAGE_WEIGHT * lesser
    return score, float(np.dot(lengths(book), book_found))


def words(text: str) -> list[str]:
    """The text's words, folded: lower case, accents dropped, punctuation a space."""
    return utils.default_process(without_accents(text)).split()


def without_accents(text: str) -> str:
    """The text with its diacritics dropped ("Città" → "Citta")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def word_similarities(rows: list[str], columns: list[str]) -> np.ndarray:
    """Similarity of every pair of words in [0, 1]: 1 when equal, a misspelling's share when close, else 0."""
    similarity = process.cdist(rows, columns, scorer=fuzz.ratio, dtype=np.float32) / 100.0
    too_short = np.minimum.outer(lengths(rows), lengths(columns)) < MIN_FUZZY_LENGTH
    similarity[(too_short & (similarity < 1.0)) | (similarity < MIN_WORD_SIMILARITY)] = 0.0
    return similarity


def aligned_words(asked: list[str], book: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """How well each asked word is found among the book's words, and each book word among the asked ones, in [0, 1].

    OCR runs a cover's words together ("GLIINTERNATI", "MYFOREVER HOME"): an asked word that matches two
    neighbouring book words written as one better than either alone counts as found, and so do both of them
    ("INTERNATI" alone is one of the two, not both misspelt).
    """
    similarity = word_similarities(asked, book)
    pairs = word_similarities(asked, [first + second for first, second in itertools.pairwise(book)])
    pairs[pairs <= np.maximum(similarity[:, :-1], similarity[:, 1:])] = 0.0
    book_found = similarity.max(axis=0)
    for i, pair_found in enumerate(pairs.max(axis=0, initial=0.0)):
        book_found[i : i + 2] = np.maximum(book_found[i : i + 2], pair_found)
    return np.maximum(similarity.max(axis=1), pairs.max(axis=1, initial=0.0)), book_found


def lengths(tokens: list[str]) -> np.ndarray:
    return np.array([len(token) for token in tokens])


def coverage(tokens: list[str], found: np.ndarray) -> float:
    """The share of ``tokens`` found, each weighted by its length (long words say more than "a" or "of")."""
    weights = lengths(tokens)
    return float(np.dot(weights, found) / weights.sum())


def phrase_match(query: str, record: BookRecord) -> float | None:
    """Stage 2: the share of the query (by word length) in its longest run found verbatim in one of the
    book's fields, in [0, 1]; 0 when no run of ``MIN_PHRASE_WORDS`` words is found; None for a query too
    short to quote anything."""
    asked = words(query)
    if len(asked) < MIN_PHRASE_WORDS:
        return None
    longest: list[str] = []
    for field in (record.title, record.author, record.description):
        text = words(field)
        match = SequenceMatcher(None, asked, text, autojunk=False).find_longest_match(0, len(asked), 0, len(text))
        if match.size > len(longest):
            longest = asked[match.a : match.a + match.size]
    if len(longest) < MIN_PHRASE_WORDS:
        return 0.0
    return float(lengths(longest).sum() / lengths(asked).sum())
