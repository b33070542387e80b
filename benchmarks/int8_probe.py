"""Would int8 be a faster runtime for CPUs without bf16? PyTorch dynamic int8 against fp32, side by side.

    python benchmarks/int8_probe.py --repeats 7

Dynamic quantisation (``torch.ao.quantization.quantize_dynamic``: int8 weights for every ``Linear``,
activations quantised on the fly) of the ms-marco-MiniLM-L-6 cross-encoder architecture and the
ViT-B-32 image tower, both with random weights (bench_common). Speed: 32 cross-encoder pairs of real
blurbs (batches of 8, as Folio scores them), one cover and 32 covers through the image tower.
Agreement: Spearman rank correlation of the cross-encoder's scores per query (10 queries × 32 books)
and cosine of image embeddings (64 covers). Folio does not offer int8: see docs/performance.md.
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_common import (
    BENCH_DIR,
    cover_path,
    machine_line,
    median,
    random_clip_checkpoint,
    random_cross_encoder,
    romance_rows,
    text_queries,
)
from runtimes import alternate
from scipy.stats import spearmanr

from multimodal.devices import quantise_to_int8
from multimodal.encoders import ClipEncoder
from multimodal.images import load_image
from multimodal.records import BookRecord
from multimodal.scorers import CrossScorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(machine_line())
    rows = romance_rows(320)
    documents = [BookRecord(r["ISBN"], r["title"], r["author"], r["description"]).document for r in rows]
    queries = text_queries(rows, 10)

    cross = {
        name: CrossScorer(str(random_cross_encoder(BENCH_DIR)), "cpu", precision="fp32") for name in ("fp32", "int8")
    }
    quantise_to_int8(cross["int8"].model.model)
    times = alternate(
        {name: lambda s=scorer: s.score(queries[0], documents[:32]) for name, scorer in cross.items()}, args.repeats
    )
    print("cross-encoder, 32 pairs: " + ", ".join(f"{name} {median(t):.0f} ms" for name, t in times.items()))
    rhos = [
        spearmanr(*(cross[name].score(query, documents[i * 32 : (i + 1) * 32]) for name in ("fp32", "int8")))[0]
        for i, query in enumerate(queries)
    ]
    print(f"  scores' Spearman per query, int8 vs fp32: mean {np.mean(rhos):.3f}, min {np.min(rhos):.3f}")

    checkpoint = str(random_clip_checkpoint(BENCH_DIR))
    clip = {name: ClipEncoder("ViT-B-32", checkpoint, "cpu", precision="fp32") for name in ("fp32", "int8")}
    quantise_to_int8(clip["int8"].model.visual)
    pixels = [clip["fp32"].prepare(load_image(cover_path(row))) for row in rows[:64]]
    for label, batch in (("one cover", pixels[:1]), ("32 covers", pixels[:32])):
        times = alternate({n: lambda c=c, b=batch: c.encode_prepared(b) for n, c in clip.items()}, args.repeats)
        print(f"image tower, {label}: " + ", ".join(f"{name} {median(t):.0f} ms" for name, t in times.items()))
    a, b = (clip[name].encode_prepared(pixels) for name in ("fp32", "int8"))
    cosine = (a * b).sum(axis=1)
    print(f"  embedding cosine, int8 vs fp32: min {cosine.min():.4f}, median {np.median(cosine):.4f}")
    print(machine_line())


if __name__ == "__main__":
    main()
