"""Typed-query tasks: what readers type, each ranked by Folio and by plain BM25 on the same queries.

- ``title``: the exact title as typed (lower-cased); every book with that title is right.
- ``blurb``: a run of 8 consecutive words from the middle of a description, as a reader remembers
  a blurb; every book whose description holds those words is right.
- ``known_item``: part of the title and the author's surname with one typo or one dropped word
  (a catalog without authors: title words only); the book with that title and author is right.
- ``topical``: hand-written questions about what a book is about, each with its expected book(s)
  and its split, kept as data beside this file: ``topical_sample.jsonl`` for the sample catalog
  (``assets/sample/catalog.csv``; English, Italian, Spanish, French and German questions) and
  ``topical_italian.jsonl`` for italian-covers (English questions for Italian books).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from evaluation.reference import text_reference
from evaluation.tasks import Query, TaskContext, book_rng, normalise, register, same_key_groups, sampled
from multimodal import BookRecord

BLURB_WORDS = 8
TOPICAL_SETS = sorted(Path(__file__).parent.glob("topical_*.jsonl"))
TOPICAL_SAMPLE = Path(__file__).with_name("topical_sample.jsonl")


def text_key(record: BookRecord) -> str:
    return f"{normalise(record.title)}|{normalise(record.author)}"


@register("title", "Exact title, lower-cased", reference=text_reference)
def title_queries(context: TaskContext) -> list[Query]:
    titled = [record for record in context.records if normalise(record.title)]
    relevant = same_key_groups(titled, lambda record: normalise(record.title))
    return [
        Query("title", record.book_id, relevant[record.book_id], text=record.title.strip().lower())
        for record in sampled(titled, context)
    ]


@register(
    "blurb",
    f"Blurb words ({BLURB_WORDS} consecutive words from the middle of a description)",
    reference=text_reference,
    needs="books with descriptions",
)
def blurb_queries(context: TaskContext) -> list[Query]:
    described = [record for record in context.records if len(record.description.split()) >= BLURB_WORDS]
    descriptions = {record.book_id: normalise(record.description) for record in described}
    queries = []
    for record in sampled(described, context):
        text = blurb_run(record.description, book_rng(context.seed, record.book_id))
        words = normalise(text)
        relevant = frozenset(book_id for book_id, description in descriptions.items() if words in description)
        queries.append(Query("blurb", record.book_id, relevant | {record.book_id}, text=text))
    return queries


def blurb_run(description: str, rng: random.Random) -> str:
    """``BLURB_WORDS`` consecutive words starting in the middle half of the description, lower-cased, no punctuation."""
    words = description.split()
    middle_from, middle_to = len(words) // 4, len(words) * 3 // 4 - BLURB_WORDS
    short = middle_to < middle_from  # then the run is centred
    start = (len(words) - BLURB_WORDS) // 2 if short else rng.randint(middle_from, middle_to)
    run = [word.strip(".,;:!?\"'()[]«»“”‘’—–-").lower() for word in words[start : start + BLURB_WORDS]]
    return " ".join(word for word in run if word)


@register("known_item", "Known-item (title words + surname, one typo or dropped word)", reference=text_reference)
def known_item_queries(context: TaskContext) -> list[Query]:
    titled = [record for record in context.records if record.title.strip()]
    relevant = same_key_groups(titled, text_key)
    return [
        Query(
            "known_item",
            record.book_id,
            relevant[record.book_id],
            text=known_item_query(record.title, record.author, book_rng(context.seed, record.book_id)),
        )
        for record in sampled(titled, context)
    ]


def known_item_query(title: str, author: str, rng: random.Random) -> str:
    """Part of the title and the author's surname as a reader types them: one word dropped or one typo.

    A word is dropped only from titles of three words or more (half of a two-word title is not
    what a reader remembers of it); otherwise, or by the toss of a coin, one word gets a typo.
    """
    words = normalise(main_title(title)).split() or normalise(title).split()
    tail = [surname] if (surname := surname_of(author)) else []
    if len(words) >= 3 and rng.random() < 0.5:
        del words[rng.randrange(len(words))]
        return " ".join(words + tail)
    query = words + tail
    long_enough = [i for i, word in enumerate(query) if len(word) >= 4]
    if long_enough:
        i = rng.choice(long_enough)
        query[i] = typo(query[i], rng)
    return " ".join(query)


def main_title(title: str) -> str:
    """The title without its subtitle ("Emma: A Novel" → "Emma")."""
    return re.split(r"\s*[:(\[]|\s+-\s+", title, maxsplit=1)[0]


def surname_of(author: str) -> str:
    """The first author's surname ("Mona Hodgson and Jane Roe" → "hodgson")."""
    first = re.split(r"\s+(?:and|&)\s+|[,;/]", author, maxsplit=1)[0]
    names = [name for name in normalise(first).split() if name not in {"jr", "sr", "ii", "iii", "iv"}]
    return names[-1] if names else ""


def typo(word: str, rng: random.Random) -> str:
    """One slip of the fingers, never on the first letter: a letter dropped, doubled, swapped or wrong."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "double", "swap", "wrong"))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[: i + 1] + word[i:]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    wrong = rng.choice([letter for letter in "abcdefghijklmnopqrstuvwxyz" if letter != word[i]])
    return word[:i] + wrong + word[i + 1 :]


@register(
    "topical",
    "Topical questions (hand-written, several languages)",
    reference=text_reference,
    needs=f"a catalog with hand-written questions ({', '.join(path.name for path in TOPICAL_SETS)})",
)
def topical_queries(context: TaskContext) -> list[Query]:
    """The hand-written questions of the run's split whose books are all in the store (any other seed: all)."""
    stored = {record.book_id for record in context.records}
    queries = []
    for entry in topical_entries():
        relevant = frozenset(entry["relevant"])
        in_split = context.split not in ("held-out", "tuning") or entry["split"] == context.split
        if in_split and relevant <= stored:
            queries.append(Query("topical", sorted(relevant)[0], relevant, text=entry["query"]))
    return queries


def topical_entries() -> list[dict]:
    lines = (line for path in TOPICAL_SETS for line in path.read_text(encoding="utf-8").splitlines())
    return [json.loads(line) for line in lines if line.strip()]
