"""What passages give the vectors: the text channel alone, with and without them, on the end of long descriptions.

    python -m ingest ../shared/data/italian-covers/books.json --profile offline --data-dir /tmp/italian-with
    python benchmarks/passage_probe.py /tmp/italian-with --queries 200 --seed 1

MiniLM reads 256 word pieces of a book's text; Italian runs about 2.2 word pieces a word, so the end
of a long description is never embedded in the book's vector. Queries: 8 consecutive words from the
last 40 words of a description longer than 150 words (``--seed`` draws the books and the words). On
one store ingested with passages, the ``text_vs_text`` channel is run as search runs it
(``Searcher.nearest``: each book at its best of its text vector and its passages' vectors) and with
the book vectors alone (``BookStore.nearest`` on the texts, as before passages). Prints R@1 and R@10
of both, and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

from multimodal import Folio, Settings
from multimodal.search import Shortlist
from multimodal.signals import SIGNALS

LONG_WORDS, END_WORDS, QUERY_WORDS = 150, 40, 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="a store ingested with passages (offline profile)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folio = Folio.open(Settings(profile="offline", data_dir=args.data_dir, query_ocr=False))
    books = [record for record in folio.records() if len(record.description.split()) > LONG_WORDS]
    rng = random.Random(args.seed)
    queries = []
    for record in rng.sample(books, min(args.queries, len(books))):
        words = record.description.split()
        start = rng.randrange(len(words) - END_WORDS, len(words) - QUERY_WORDS)
        queries.append((record.book_id, " ".join(words[start : start + QUERY_WORDS])))
    vectors = folio.searcher.encode_texts([text for _, text in queries])
    channel = SIGNALS["text_vs_text"]
    ranks: dict[str, list[int | None]] = {"book vectors alone": [], "with passages": []}
    for (book_id, _), vector in zip(queries, vectors, strict=True):
        alone = [found for found, _ in folio.store.nearest("texts", vector, 10)]
        both = list(folio.searcher.nearest(channel, vector, 10, None, Shortlist()))
        for name, ranked in (("book vectors alone", alone), ("with passages", both)):
            ranks[name].append(ranked.index(book_id) + 1 if book_id in ranked else None)
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {folio.store.info().passages} passages")
    what = f"{len(queries)} queries: 8 words from the end of a long description, seed {args.seed}"
    print(f"text_vs_text channel alone, {what}")
    for name, found in ranks.items():
        at_1 = sum(rank == 1 for rank in found) / len(found)
        at_10 = sum(rank is not None for rank in found) / len(found)
        print(f"  {name:20} R@1 {at_1:.3f}  R@10 {at_10:.3f}")


if __name__ == "__main__":
    main()
