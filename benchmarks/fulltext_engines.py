"""Which full-text engine: tantivy, SQLite FTS5 or bm25s, measured on the real catalogs and at 100,000 books.

    python benchmarks/fulltext_engines.py --sample 300 --seed 1 --sizes 100000

Engines, each configured as well as it allows for what readers type (fields: title, author,
description, subjects/genre, publisher):

- tantivy: ``multimodal.fulltext.FullTextIndex`` — the product's index: per-field BM25 boosts,
  fuzzy title/author terms (Levenshtein 1, 2 for long words), phrase bonus, accents folded;
- fts5: SQLite FTS5 (stdlib), ``unicode61 remove_diacritics 2``, ``bm25()`` with the same field
  weights, plus a trigram table over title and author for typos (the word list and the trigram list
  fused by reciprocal rank, the trigram list weighted 0.3);
- fts5-words: the same without the trigram list;
- bm25s: one BM25 matrix over all fields (title repeated 3×, author 2× as boosts), accents folded;
  no typo tolerance, no incremental update (a change rebuilds the matrix).

Tasks, on each catalog of ../shared/data, a seeded sample of books (``--seed``; the boosts were
set on seed 0, report seed 1): the exact title, lower-cased; 8 consecutive words from the middle of
the description (descriptions of at least 16 words); the known-item query of ``python -m evaluation``
(title words and surname with one typo or one dropped word). R@1 counts a hit when the first result
has the right title and author (duplicates in a catalog count as right).

Scale: a synthetic catalog of N books (titles, authors and blurbs recombined from the words of all
three real catalogs, blurb lengths drawn from the real ones; the real books are part of it) is indexed
by each engine; reported are build time, median query time of the same tasks' queries, the time to
replace 100 books (incremental update), and the index size on disk.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.text import known_item_query  # noqa: E402
from multimodal.fulltext import FIELD_BOOSTS, FullTextDocument, FullTextIndex  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BLURB_WORDS = 8
RRF_K = 60
TRIGRAM_WEIGHTS = (1.0, 0.3)  # FTS5: the word list counts more than the trigram (typo) list; set on seed 0


@dataclass(frozen=True)
class Query:
    task: str
    text: str
    key: str  # the right answer's title|author


def key_of(document: FullTextDocument) -> str:
    return f"{fold(document.title)}|{fold(document.author)}"


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return " ".join(re.findall(r"\w+", "".join(c for c in decomposed if not unicodedata.combining(c))))


# -- catalogs ----------------------------------------------------------------------------------
def romance() -> list[FullTextDocument]:
    with (SHARED / "romance-covers" / "listings.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    return [
        FullTextDocument(row["ISBN"], "", row["title"], row["author"], row["description"], "romance", row["publisher"])
        for row in rows
    ]


def genres() -> list[FullTextDocument]:
    rows = json.loads((SHARED / "genre-covers" / "metadata.json").read_text())
    return [FullTextDocument(row["filename"], "", row["title"], subjects=row["genre"]) for row in rows]


def italian() -> list[FullTextDocument]:
    rows = json.loads((SHARED / "italian-covers" / "books.json").read_text())
    return [
        FullTextDocument(
            row["isbn"],
            "",
            row["title"],
            row.get("author") or "",
            row.get("description") or "",
            " ".join(row.get("subjects") or []),
            row.get("publisher") or "",
        )
        for row in rows
    ]


CATALOGS: dict[str, Callable[[], list[FullTextDocument]]] = {
    "romance-covers": romance,
    "genre-covers": genres,
    "italian-covers": italian,
}


def queries_for(books: list[FullTextDocument], sample: int, seed: int) -> list[Query]:
    rng = random.Random(seed)
    chosen = rng.sample(books, min(sample, len(books)))
    queries = [Query("exact title", book.title.lower(), key_of(book)) for book in chosen]
    for book in chosen:
        words = book.description.split()
        if len(words) >= 2 * BLURB_WORDS:
            start = rng.randrange(BLURB_WORDS // 2, len(words) - BLURB_WORDS - BLURB_WORDS // 2 + 1)
            queries.append(Query("blurb words", " ".join(words[start : start + BLURB_WORDS]), key_of(book)))
    queries += [Query("known item", known_item_query(book.title, book.author, rng), key_of(book)) for book in chosen]
    return queries


def synthetic(real: list[FullTextDocument], size: int, seed: int = 0) -> list[FullTextDocument]:
    """``size`` books: the real ones, then books recombined from their words."""
    rng = random.Random(seed)
    title_words = [word for book in real for word in book.title.split()]
    names = [book.author.split() for book in real if len(book.author.split()) >= 2]
    blurbs = [book.description.split() for book in real if book.description.strip()]
    subjects = [book.subjects for book in real if book.subjects]
    publishers = [book.publisher for book in real if book.publisher]
    books = list(real[:size])
    for i in range(len(books), size):
        words = rng.choice(blurbs) + rng.choice(blurbs)
        rng.shuffle(words)
        books.append(
            FullTextDocument(
                f"synthetic-{i:06d}",
                "",
                " ".join(rng.sample(title_words, rng.randint(2, 5))).title(),
                f"{rng.choice(names)[0]} {rng.choice(names)[-1]}",
                " ".join(words[: len(rng.choice(blurbs))]),
                rng.choice(subjects),
                rng.choice(publishers),
            )
        )
    return books


# -- engines -------------------------------------------------------------------------------------
class Engine:
    name = ""
    incremental = True

    def build(self, books: list[FullTextDocument], folder: Path) -> None: ...

    def search(self, text: str, limit: int) -> list[str]: ...

    def replace(self, books: list[FullTextDocument]) -> None: ...


class Tantivy(Engine):
    name = "tantivy"

    def build(self, books: list[FullTextDocument], folder: Path) -> None:
        self.index = FullTextIndex(folder)
        self.index.apply(books)

    def search(self, text: str, limit: int) -> list[str]:
        return [book_id for book_id, _ in self.index.search(text, limit)]

    def replace(self, books: list[FullTextDocument]) -> None:
        self.index.apply(books)


FIELDS = list(FIELD_BOOSTS)


class Fts5(Engine):
    name = "fts5"
    typos = True

    def build(self, books: list[FullTextDocument], folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(folder / "index.sqlite", check_same_thread=False)
        columns = ", ".join(FIELDS)
        folding = "tokenize='unicode61 remove_diacritics 2'"
        self.db.execute(f"CREATE VIRTUAL TABLE words USING fts5(book_id UNINDEXED, {columns}, {folding})")
        self.db.execute("CREATE VIRTUAL TABLE grams USING fts5(book_id UNINDEXED, label, tokenize='trigram')")
        self.weights = ", ".join(str(FIELD_BOOSTS[field]) for field in FIELDS)
        self.replace(books)

    def replace(self, books: list[FullTextDocument]) -> None:
        with self.db:
            ids = [(book.book_id,) for book in books]
            self.db.executemany("DELETE FROM words WHERE book_id = ?", ids)
            self.db.executemany("DELETE FROM grams WHERE book_id = ?", ids)
            marks = ", ".join("?" * (len(FIELDS) + 1))
            rows = [(book.book_id, *(getattr(book, field) for field in FIELDS)) for book in books]
            self.db.executemany(f"INSERT INTO words VALUES ({marks})", rows)
            labels = [(book.book_id, fold(f"{book.title} {book.author}")) for book in books]
            self.db.executemany("INSERT INTO grams VALUES (?, ?)", labels)

    def search(self, text: str, limit: int) -> list[str]:
        words = fold(text).split()
        if not words:
            return []
        lists = [
            self.db.execute(
                f"SELECT book_id FROM words WHERE words MATCH ? ORDER BY bm25(words, 0, {self.weights}) LIMIT ?",
                (" OR ".join(f'"{word}"' for word in words), limit),
            ).fetchall()
        ]
        grams = {word[i : i + 3] for word in words if len(word) >= 4 for i in range(len(word) - 2)}
        if grams and self.typos:
            lists.append(
                self.db.execute(
                    "SELECT book_id FROM grams WHERE grams MATCH ? ORDER BY bm25(grams) LIMIT ?",
                    (" OR ".join(f'"{gram}"' for gram in grams), limit),
                ).fetchall()
            )
        return reciprocal_rank([[book_id for (book_id,) in found] for found in lists], TRIGRAM_WEIGHTS)[:limit]


def reciprocal_rank(lists: list[list[str]], weights: tuple[float, ...]) -> list[str]:
    scores: dict[str, float] = {}
    for found, weight in zip(lists, weights, strict=False):
        for rank, book_id in enumerate(found, start=1):
            scores[book_id] = scores.get(book_id, 0.0) + weight / (RRF_K + rank)
    return sorted(scores, key=lambda book_id: -scores[book_id])


class Bm25s(Engine):
    name = "bm25s"
    incremental = False

    def build(self, books: list[FullTextDocument], folder: Path) -> None:
        import bm25s

        self.books = {book.book_id: book for book in books}
        self.ids = list(self.books)
        self.retriever = bm25s.BM25()
        self.retriever.index([self.tokens(book) for book in self.books.values()], show_progress=False)
        self.vocabulary = self.retriever.vocab_dict
        self.folder = folder
        self.retriever.save(str(folder))

    @staticmethod
    def tokens(book: FullTextDocument) -> list[str]:
        text = " ".join([book.title] * 3 + [book.author] * 2 + [book.subjects, book.publisher, book.description])
        return fold(text).split()

    def search(self, text: str, limit: int) -> list[str]:
        words = [word for word in fold(text).split() if word in self.vocabulary]
        if not words:
            return []
        found, _ = self.retriever.retrieve([words], k=min(limit, len(self.ids)), show_progress=False)
        return [self.ids[i] for i in found[0]]

    def replace(self, books: list[FullTextDocument]) -> None:
        for book in books:
            self.books[book.book_id] = book
        self.build(list(self.books.values()), self.folder)


class Fts5Words(Fts5):
    """FTS5 without the trigram list: no typo tolerance, nothing to disturb the word ranking."""

    name = "fts5-words"
    typos = False


ENGINES: dict[str, type[Engine]] = {"tantivy": Tantivy, "fts5": Fts5, "fts5-words": Fts5Words, "bm25s": Bm25s}


# -- measuring -----------------------------------------------------------------------------------
def folder_size_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def recall_at_1(engine: Engine, queries: list[Query], keys: dict[str, str]) -> dict[str, float]:
    hits: dict[str, list[bool]] = {}
    for query in queries:
        found = engine.search(query.text, 10)
        hits.setdefault(query.task, []).append(bool(found) and keys[found[0]] == query.key)
    return {task: sum(values) / len(values) for task, values in hits.items()}


def median_ms(engine: Engine, texts: list[str], limit: int = 50) -> float:
    times = []
    for text in texts:
        start = time.perf_counter()
        engine.search(text, limit)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def quality(engines: list[str], sample: int, seed: int, work: Path) -> None:
    print(f"\nR@1 on the real catalogs (sample {sample} books per catalog, seed {seed})")
    print(f"{'catalog':16} {'task':12} {'queries':>7} " + " ".join(f"{name:>10}" for name in engines))
    for catalog, load in CATALOGS.items():
        books = load()
        keys = {book.book_id: key_of(book) for book in books}
        queries = queries_for(books, sample, seed)
        built = {}
        for name in engines:
            built[name] = ENGINES[name]()
            built[name].build(books, work / f"{catalog}-{name}")
        scores = {name: recall_at_1(engine, queries, keys) for name, engine in built.items()}
        for task in dict.fromkeys(query.task for query in queries):
            count = sum(query.task == task for query in queries)
            cells = " ".join(f"{scores[name][task]:10.3f}" for name in engines)
            print(f"{catalog:16} {task:12} {count:7d} {cells}")
        texts = [query.text for query in queries]
        times = " ".join(f"{median_ms(engine, texts):10.2f}" for engine in built.values())
        print(f"{catalog:16} {'median ms':12} {len(texts):7d} {times}")


def scale(engines: list[str], sizes: list[int], sample: int, seed: int, work: Path) -> None:
    real = [book for load in CATALOGS.values() for book in load()]
    queries = [query.text for query in queries_for(real, sample, seed)]
    print(f"\nScale: synthetic catalogs ({len(real)} real books inside), {len(queries)} queries, top 50")
    print(f"{'engine':10} {'books':>8} {'build s':>8} {'query ms':>9} {'replace 100 s':>13} {'disk MB':>8}")
    for size in sizes:
        books = synthetic(real, size)
        every = len(books) // 100
        changed = [replace(book, description=book.description + " revised") for book in books[::every]][:100]
        for name in engines:
            engine, folder = ENGINES[name](), work / f"scale-{size}-{name}"
            start = time.perf_counter()
            engine.build(books, folder)
            build_s = time.perf_counter() - start
            query_ms = median_ms(engine, queries)
            start = time.perf_counter()
            engine.replace(changed)
            replace_s = time.perf_counter() - start
            note = "" if engine.incremental else " (rebuild)"
            disk_mb = folder_size_mb(folder)
            print(f"{name:10} {size:8d} {build_s:8.1f} {query_ms:9.2f} {replace_s:13.2f} {disk_mb:8.1f}{note}")
            del engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--sample", type=int, default=300, help="books queried per catalog")
    parser.add_argument("--seed", type=int, default=1, help="0: the split the boosts were set on; 1: held out")
    parser.add_argument("--sizes", nargs="*", type=int, default=[100_000])
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"real catalogs not found at {SHARED}")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="folio-fulltext-") as work:
        quality(args.engines, args.sample, args.seed, Path(work))
        if args.sizes:
            scale(args.engines, args.sizes, args.sample, args.seed, Path(work))
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
