"""Would chunked descriptions help the vectors? MiniLM on the Italian catalog, with and without passages.

    python benchmarks/passage_probe.py --queries 200 --seed 1

MiniLM reads 256 word pieces of a book's text; Italian runs about 2.2 word pieces a word, so the end
of a long description is never embedded. Queries: 8 consecutive words from the last 40 words of a
description longer than 150 words. Ranked by the book's text vector alone (as stored today), then by
the best of its text vector and its passages' vectors: windows of ``--words`` words overlapping by
``--overlap``, each embedded as "title. passage". Prints R@1 of both and what the passages cost
(how many, and their encoding time beside the books' own).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import numpy as np

from multimodal.encoders import MiniLMEncoder
from multimodal.records import BookRecord

ITALIAN = Path(__file__).resolve().parents[2] / "shared" / "data" / "italian-covers" / "books.json"


def passages(record: BookRecord, words: int, overlap: int) -> list[str]:
    tokens = record.description.split()
    if len(tokens) <= words:
        return []
    return [
        f"{record.title}. " + " ".join(tokens[start : start + words])
        for start in range(0, len(tokens) - overlap, words - overlap)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--words", type=int, default=80)
    parser.add_argument("--overlap", type=int, default=20)
    args = parser.parse_args()
    books = json.loads(ITALIAN.read_text())
    records = [BookRecord(b["isbn"], b["title"], b.get("author") or "", b.get("description") or "") for b in books]
    encoder = MiniLMEncoder(device="cpu")
    start = time.perf_counter()
    documents = encoder.encode_texts([record.document for record in records])
    documents_s = time.perf_counter() - start
    texts, owners = [], []
    for i, record in enumerate(records):
        for passage in passages(record, args.words, args.overlap):
            texts.append(passage)
            owners.append(i)
    start = time.perf_counter()
    passage_vectors = encoder.encode_texts(texts)
    passages_s = time.perf_counter() - start
    rng = random.Random(args.seed)
    long_books = [i for i, record in enumerate(records) if len(record.description.split()) > 150]
    queries = []
    for i in rng.sample(long_books, min(args.queries, len(long_books))):
        tokens = records[i].description.split()
        start_word = rng.randrange(len(tokens) - 40, len(tokens) - 8)
        queries.append((i, " ".join(tokens[start_word : start_word + 8])))
    query_vectors = encoder.encode_texts([text for _, text in queries])
    owner_index = np.array(owners)

    def recall_at_1(with_passages: bool) -> float:
        hits = 0
        for (book, _), vector in zip(queries, query_vectors, strict=True):
            similarity = documents @ vector
            if with_passages:
                best = np.full(len(records), -1.0, dtype=np.float32)
                np.maximum.at(best, owner_index, passage_vectors @ vector)
                similarity = np.maximum(similarity, best)
            hits += int(np.argmax(similarity) == book)
        return hits / len(queries)

    print(
        f"load average {os.getloadavg()[0]:.1f}; {len(records)} books encoded in {documents_s:.0f}s, "
        f"{len(texts)} passages (words {args.words}, overlap {args.overlap}) in {passages_s:.0f}s"
    )
    print(
        f"end-of-description 8 words, {len(queries)} queries (seed {args.seed}): R@1 text vector "
        f"{recall_at_1(False):.3f}, with passages {recall_at_1(True):.3f}"
    )


if __name__ == "__main__":
    main()
