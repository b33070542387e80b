"""The task registry: what a task is, the queries it makes, and the helpers every family shares.

A task family lives in its own module (``evaluation.text`` for typed queries, ``evaluation.photos``
for photos) and registers each task with ``@register``. A task turns the stored books into
queries, each with the ids of the books that count as the right answer, and may name a
``reference``: a plain ranker without Folio's models or fusion (``evaluation.reference``) that
ranks the same queries in the same run, so every figure has a baseline beside it.

Splits: every weight or threshold anyone tunes is chosen on the *tuning* split (seed 2) and
reported on the *held-out* split (seed 1); the seed draws the sample, the photos and the typos,
and hand-written query sets mark each line with its split.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ingest.readers import CatalogRow, ColumnMap, read_catalog
from multimodal import BookRecord
from multimodal.lexicon import without_accents
from multimodal.settings import Settings

SPLIT_SEEDS = {"held-out": 1, "tuning": 2}


def split_name(seed: int) -> str:
    """The split a seed belongs to: ``held-out`` (1), ``tuning`` (2), else neither."""
    by_seed = {value: name for name, value in SPLIT_SEEDS.items()}
    return by_seed.get(seed, f"seed {seed} (neither the tuning nor the held-out split)")


@dataclass
class Query:
    """One query with the ids of the books that count as the right answer."""

    task: str
    book_id: str
    relevant: frozenset[str]
    text: str = ""
    image: bytes | None = None
    conditions: dict[str, Any] = field(default_factory=dict)  # how a photo was taken (evaluation.photos)


@dataclass
class TaskContext:
    """What a task needs to make its queries: the stored books and the run's options."""

    records: list[BookRecord]
    catalog: Path
    images_dir: Path | None
    settings: Settings
    sample: int | None
    seed: int
    allow_outside: bool = False
    progress: bool = True
    absent: list[BookRecord] = field(default_factory=list)  # catalog books held out of the store at ingest

    @property
    def split(self) -> str:
        return split_name(self.seed)


class Reference(Protocol):
    """A plain ranker: the book ids it finds for a query, best first (books it does not match are left out)."""

    name: str

    def rank(self, query: Query) -> list[str]: ...


@dataclass(frozen=True)
class Task:
    name: str
    title: str  # how the report names it
    make_queries: Callable[[TaskContext], list[Query]]
    reference: Callable[[list[BookRecord]], Reference] | None = None
    shown: tuple[str, ...] = ("R@1", "R@10", "MRR")
    needs: str = ""  # why a catalog can yield no queries, said when it does not


TASKS: dict[str, Task] = {}


def register(
    name: str,
    title: str,
    reference: Callable[[list[BookRecord]], Reference] | None = None,
    shown: tuple[str, ...] = ("R@1", "R@10", "MRR"),
    needs: str = "",
) -> Callable[[Callable[[TaskContext], list[Query]]], Callable[[TaskContext], list[Query]]]:
    """Register a function that makes a task's queries."""

    def add(make_queries: Callable[[TaskContext], list[Query]]) -> Callable[[TaskContext], list[Query]]:
        TASKS[name] = Task(name, title, make_queries, reference, shown, needs)
        return make_queries

    return add


# -- helpers every family uses ----------------------------------------------------------------
def normalise(text: str) -> str:
    """Lower-cased words without punctuation ("Emma: A Novel!" → "emma a novel")."""
    return " ".join(re.findall(r"\w+", text.lower()))


def fold(text: str) -> str:
    """Case and diacritics folded ("Città" → "citta"), for comparisons that a reader's typing must not break."""
    return without_accents(text.casefold())


def same_key_groups(records: Iterable[BookRecord], key: Callable[[BookRecord], str]) -> dict[str, frozenset[str]]:
    """Book id → the ids of all books sharing its key (itself included)."""
    groups: dict[str, set[str]] = defaultdict(set)
    keys = {record.book_id: key(record) for record in records}
    for book_id, value in keys.items():
        groups[value].add(book_id)
    return {book_id: frozenset(groups[value]) for book_id, value in keys.items()}


def work_key(record: BookRecord) -> tuple[str, str]:
    return normalise(record.title), normalise(record.author)


def not_in_store(context: TaskContext) -> list[BookRecord]:
    """The held-out books whose work is not in the store either: a catalog may file one work twice (genre-covers
    files a title under several genres), and a photo of a held-out copy that finds the stored one is right."""
    stored = {work_key(record) for record in context.records}
    return [record for record in context.absent if work_key(record) not in stored]


def sample(ids: list[str], size: int | None, seed: int) -> list[str]:
    if size is None or size >= len(ids):
        return ids
    chosen = set(random.Random(seed).sample(ids, size))
    return [book_id for book_id in ids if book_id in chosen]


def book_seed(seed: int, book_id: str) -> int:
    """A per-book seed: a book gets the same photo and typo whatever else is sampled."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{book_id}".encode()).digest()[:8], "big")


def book_rng(seed: int, book_id: str) -> random.Random:
    return random.Random(book_seed(seed, book_id))


def sampled(records: list[BookRecord], context: TaskContext) -> list[BookRecord]:
    """The books a task draws its queries from: ``context.sample`` of them, drawn with the run's seed."""
    chosen = set(sample([record.book_id for record in records], context.sample, context.seed))
    return [record for record in records if record.book_id in chosen]


def catalog_records(path: Path, columns: ColumnMap) -> list[BookRecord]:
    """The catalog's readable rows as books (texts and the cover as the catalog gives it), without a store."""
    records: dict[str, BookRecord] = {}
    for row in read_catalog(path, columns):
        if isinstance(row, CatalogRow) and row.get("title") and row.book_id not in records:
            records[row.book_id] = BookRecord(
                row.book_id, row.get("title"), row.get("author"), row.get("description"), row.year,
                row.get("genre").lower(), row.get("isbn"), row.get("cover"),
            )  # fmt: skip
    return list(records.values())
