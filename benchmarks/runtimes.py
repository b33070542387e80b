"""Eager fp32 against bf16, side by side in one run: speed and agreement of the query-time models.

    python benchmarks/runtimes.py --covers 1435 --repeats 15

Models: ViT-B-32 (open_clip) and the ms-marco-MiniLM-L-6 cross-encoder architecture with random
weights (see bench_common), loaded through the product's ``ClipEncoder`` / ``CrossScorer`` with
``precision="fp32"`` and ``"bf16"``; and, because random weights say little about how rounding
moves a *trained* model's rankings, the real all-MiniLM-L6-v2 (same 6-layer, 384-wide BERT as the
cross-encoder) cast to bf16 the same way.

Speed (each pair measured alternately, medians): images/s at batch 32 (ingest), book texts/s at
batch 32, single-query text and image encode, cross-scoring 32 pairs (short real blurbs and long
~180-word ones).

Agreement on the real romance covers and their book texts: cosine between fp32 and bf16
embeddings, overlap of each cover's 10 nearest covers, Spearman rank correlation of the
cross-encoder's logits per query (and of all-MiniLM-L6-v2's query-book similarities).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from bench_common import (
    BENCH_DIR,
    cover_path,
    machine_line,
    median,
    minilm_dir,
    random_clip_checkpoint,
    random_cross_encoder,
    romance_rows,
    text_queries,
    timed_ms,
)
from scipy.stats import spearmanr

from multimodal.encoders import ClipEncoder
from multimodal.images import load_image
from multimodal.records import BookRecord
from multimodal.scorers import CrossScorer

PRECISIONS = ("fp32", "bf16")


def alternate(calls: dict[str, object], repeats: int) -> dict[str, list[float]]:
    """Time each call ``repeats`` times, alternating between them so that load changes hit both."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(repeats):
        for name, call in calls.items():
            times[name] += timed_ms(call, 1)
    return times


def speed_row(label: str, times: dict[str, list[float]], unit: str = "ms", per: int = 0) -> tuple[str, float]:
    fp32, bf16 = median(times["fp32"]), median(times["bf16"])
    values = (per * 1000 / fp32, per * 1000 / bf16) if per else (fp32, bf16)  # a rate: items per second
    cells = f"{values[0]:9.1f} {values[1]:9.1f}  {unit}"
    print(f"  {label:38} {cells}   bf16 speed-up ×{fp32 / bf16:.2f}")
    return label, fp32 / bf16


def top_k_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean overlap of each row's k nearest other rows under embeddings a and under b."""

    def nearest(vectors: np.ndarray) -> np.ndarray:
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -np.inf)
        return np.argsort(-similarity, axis=1)[:, :k]

    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(nearest(a), nearest(b), strict=True)]))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def spread_line(vectors: np.ndarray) -> str:
    """How different the embeddings of different inputs are: the signal rounding must not drown."""
    similarity = vectors @ vectors.T
    off = similarity[~np.eye(len(vectors), dtype=bool)]
    return f"cosine between different inputs: median {np.median(off):.4f}, 1st-99th pct {np.percentile(off, [1, 99])}"


def per_query_spearman(fp32: np.ndarray, bf16: np.ndarray) -> tuple[float, float]:
    values = [spearmanr(x, y).statistic for x, y in zip(fp32, bf16, strict=True)]
    return float(np.mean(values)), float(np.min(values))


@dataclass
class Inputs:
    """The models of both precisions and the real inputs every section measures on."""

    clip: dict[str, ClipEncoder]
    cross: dict[str, CrossScorer]
    pixels: list
    documents: list[str]
    queries: list[str]
    long_documents: list[str]
    batch: int
    repeats: int
    bench_dir: Path


def speed(inputs: Inputs) -> dict[str, float]:
    """Speed of each model, fp32 and bf16 alternating; returns the bf16 speed-up of each row."""
    clip, cross, pixels, documents, batch = inputs.clip, inputs.cross, inputs.pixels, inputs.documents, inputs.batch
    query = inputs.queries[0]
    rows = [
        (f"image tower, batch {batch}", lambda p: clip[p].encode_prepared(pixels[:batch]), "images/s", batch),
        (f"text tower, batch {batch} book texts", lambda p: clip[p].encode_texts(documents[:batch]), "texts/s", batch),
        ("text tower, one query", lambda p: clip[p].encode_texts([query]), "ms", 0),
        ("image tower, one query cover", lambda p: clip[p].encode_prepared(pixels[:1]), "ms", 0),
        ("cross-encoder, 32 pairs (real blurbs)", lambda p: cross[p].score(query, documents[:32]), "ms", 0),
        ("cross-encoder, 32 pairs (~180 words)", lambda p: cross[p].score(query, inputs.long_documents), "ms", 0),
    ]
    print(f"\nspeed (median of {inputs.repeats}, alternating)          fp32      bf16")
    speedups = {}
    for label, run, unit, per in rows:
        times = alternate({p: lambda p=p, run=run: run(p) for p in PRECISIONS}, inputs.repeats)
        name, value = speed_row(label, times, unit, per=per)
        speedups[name] = value
    return speedups


def cross_encoder_batches(inputs: Inputs) -> None:
    """The cross-encoder's input lengths, and its time by number of pairs and by batch size."""
    query, documents, long_documents = inputs.queries[0], inputs.documents, inputs.long_documents
    tokenizer = inputs.cross["bf16"].model.tokenizer
    for label, docs in (("real blurbs", documents[:32]), ("~180 words", long_documents)):
        lengths = [len(tokenizer(query, doc)["input_ids"]) for doc in docs]
        print(f"  cross-encoder input, {label}: {np.mean(lengths):.0f} tokens per pair, batch padded to {max(lengths)}")
    for pairs in (8, 16):
        times = timed_ms(lambda pairs=pairs: inputs.cross["bf16"].score(query, documents[:pairs]), inputs.repeats)
        print(f"  cross-encoder bf16, {pairs} pairs (real blurbs): {median(times):.1f} ms")
    print(f"  cross-encoder, 32 pairs by batch size (Folio's CrossScorer uses {inputs.cross['bf16'].batch_size}):")
    for label, docs in (("real blurbs", documents[:32]), ("~180 words", long_documents)):
        calls = {}
        for precision in PRECISIONS:
            for size in (32, 8):
                scorer = CrossScorer(str(random_cross_encoder(inputs.bench_dir)), "cpu", size, precision)
                calls[f"{precision}, batch {size}"] = lambda scorer=scorer, docs=docs: scorer.score(query, docs)
        times = alternate(calls, inputs.repeats)
        cells = ", ".join(f"{name} {median(values):.0f} ms" for name, values in times.items())
        print(f"    {label}: {cells}")


def clip_agreement(inputs: Inputs) -> None:
    images = {p: inputs.clip[p].encode_prepared(inputs.pixels) for p in PRECISIONS}
    texts = {p: inputs.clip[p].encode_texts(inputs.documents) for p in PRECISIONS}
    image_cos, text_cos = cosines(images["fp32"], images["bf16"]), cosines(texts["fp32"], texts["bf16"])
    print(f"  ViT-B-32 covers:     cosine min {image_cos.min():.5f}, median {np.median(image_cos):.5f}")
    print(f"  ViT-B-32 book texts: cosine min {text_cos.min():.5f}, median {np.median(text_cos):.5f}")
    print(f"  ViT-B-32 covers, top-10 nearest covers overlap: {top_k_overlap(images['fp32'], images['bf16']):.3f}")
    print(f"    (random weights: {spread_line(images['fp32'])})")


def cross_encoder_agreement(inputs: Inputs) -> None:
    logits = {}
    for p in PRECISIONS:
        predict = inputs.cross[p].model.predict
        pairs = [[(q, d) for d in inputs.documents[:32]] for q in inputs.queries]
        logits[p] = np.array(
            [predict(batch, activation_fn=torch.nn.Identity(), show_progress_bar=False) for batch in pairs]
        ).reshape(len(inputs.queries), -1)
    mean_rho, min_rho = per_query_spearman(logits["fp32"], logits["bf16"])
    difference = np.abs(logits["fp32"] - logits["bf16"])
    print(f"  cross-encoder logits, {len(inputs.queries)} queries × 32 books: Spearman per query mean {mean_rho:.4f}, ")
    print(f"    min {min_rho:.4f}; logit spread within a query (std) {np.mean(np.std(logits['fp32'], axis=1)):.4f}")
    print(f"    vs |fp32 - bf16| median {np.median(difference):.4f}")


def minilm_agreement(inputs: Inputs) -> None:
    """all-MiniLM-L6-v2 (trained weights) cast to bf16, as a proxy for a trained 6-layer BERT."""
    from sentence_transformers import SentenceTransformer

    minilm = {p: SentenceTransformer(str(minilm_dir()), device="cpu") for p in PRECISIONS}
    minilm["bf16"].to(torch.bfloat16)

    def encode(p: str, texts: list[str], **options: object) -> np.ndarray:
        return np.asarray(minilm[p].encode(texts, normalize_embeddings=True, **options), np.float32)

    trained = {p: encode(p, inputs.documents, batch_size=64) for p in PRECISIONS}
    query_vectors = {p: encode(p, inputs.queries) for p in PRECISIONS}
    trained_cos = cosines(trained["fp32"], trained["bf16"])
    mean_rho, min_rho = per_query_spearman(
        query_vectors["fp32"] @ trained["fp32"].T, query_vectors["bf16"] @ trained["bf16"].T
    )
    print("  all-MiniLM-L6-v2 (trained weights), as a proxy for a trained 6-layer BERT:")
    print(f"    book texts cosine min {trained_cos.min():.5f}, median {np.median(trained_cos):.5f}")
    print(f"    top-10 nearest book texts overlap {top_k_overlap(trained['fp32'], trained['bf16']):.3f}")
    books = len(inputs.documents)
    print(f"    query-book similarity Spearman per query, {books} books: mean {mean_rho:.4f}, min {min_rho:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--covers", type=int, default=1435, help="real covers for agreement (and the top-10)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    args = parser.parse_args()

    print(machine_line())
    checkpoint = random_clip_checkpoint(args.bench_dir)
    clip = {p: ClipEncoder("ViT-B-32", str(checkpoint), "cpu", args.batch_size, precision=p) for p in PRECISIONS}
    cross = {p: CrossScorer(str(random_cross_encoder(args.bench_dir)), "cpu", precision=p) for p in PRECISIONS}
    rows = romance_rows(args.covers)
    pixels = [clip["fp32"].prepare(load_image(cover_path(row))) for row in rows]
    books = [BookRecord(row["ISBN"], row["title"], row["author"], row["description"], genre="romance") for row in rows]
    documents = [book.document for book in books]
    long_documents = [" ".join(documents[i : i + 6]) for i in range(0, 32 * 6, 6)]
    inputs = Inputs(
        clip, cross, pixels, documents, text_queries(rows, 20), long_documents, args.batch_size, args.repeats,
        args.bench_dir,
    )  # fmt: skip

    speedups = speed(inputs)
    cross_encoder_batches(inputs)
    print(f"\nagreement fp32 vs bf16 on {len(rows)} real covers and book texts")
    start = time.perf_counter()
    clip_agreement(inputs)
    cross_encoder_agreement(inputs)
    minilm_agreement(inputs)
    print(f"  (agreement part {time.perf_counter() - start:.0f}s)")
    print("\n" + machine_line())
    print("speed-ups: " + ", ".join(f"{label} ×{value:.2f}" for label, value in speedups.items()))


if __name__ == "__main__":
    main()
