"""Ingest throughput of the whole job against the pure model forwards, measured side by side.

    python benchmarks/ingest_throughput.py --books 320 --batch-size 32 --repeats 3

Both use the same model (the real ViT-B-32 architecture with random weights: the compute is the
same as with trained weights), the same batch size and the same real covers from
../shared/data/romance-covers. "Pure forward" runs only the model on covers decoded and
preprocessed in advance: the image tower on each cover and the text tower on each book text,
which is the model work the job must do. The job runs everything: reading the catalog, hashing,
decoding, preprocessing, perceptual hashing, both towers and the Chroma writes.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ingest.job import IngestJob, IngestOptions
from ingest.readers import ColumnMap
from multimodal.encoders import ClipEncoder
from multimodal.images import load_image
from multimodal.models import Models
from multimodal.profiles import load_profile
from multimodal.records import BookRecord
from multimodal.service import open_ingest
from multimodal.settings import Settings

ROMANCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "romance-covers"


def romance_rows(count: int) -> list[dict[str, str]]:
    with (ROMANCE / "listings.csv").open(newline="") as stream:
        rows = [row for row in csv.DictReader(stream) if (ROMANCE / "images" / f"img_{row['ISBN']}.jpg").is_file()]
    return rows[:count]


def pure_forward_seconds(encoder: ClipEncoder, rows: list[dict[str, str]]) -> tuple[float, float]:
    """Seconds for the image tower over all covers and the text tower over all book texts."""
    images = [load_image(ROMANCE / "images" / f"img_{row['ISBN']}.jpg") for row in rows]
    pixels = [encoder.prepare(image) for image in images]
    texts = [BookRecord(row["ISBN"], row["title"], row["author"], row["description"]).document for row in rows]
    encoder.encode_prepared(pixels[: encoder.batch_size])  # warm-up
    start = time.perf_counter()
    encoder.encode_prepared(pixels)
    image_seconds = time.perf_counter() - start
    start = time.perf_counter()
    encoder.encode_texts(texts)
    return image_seconds, time.perf_counter() - start


def job_seconds(encoder: ClipEncoder, rows: list[dict[str, str]], workers: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        catalog = Path(folder) / "catalog.csv"
        with catalog.open("w", newline="") as stream:
            writer = csv.DictWriter(stream, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        settings = Settings(profile="clip", data_dir=Path(folder) / "store")
        models = Models(load_profile("clip"), encoder, encoder, None, None)
        store = open_ingest(settings, models=models).store
        options = IngestOptions(
            catalog=catalog,
            images_dir=ROMANCE,
            columns=ColumnMap({"cover": "images/img_{ISBN}.jpg", "id": "ISBN"}),
            workers=workers,
            progress=False,
            allow_outside=True,
        )
        start = time.perf_counter()
        summary = IngestJob(models, store, options).run()
        seconds = time.perf_counter() - start
        assert summary.ingested == len(rows), summary.report()
        print(summary.report())
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--repeats", type=int, default=3, help="pure-forward and job runs, alternated")
    args = parser.parse_args()
    if not ROMANCE.is_dir():
        raise SystemExit(f"real covers not found at {ROMANCE}")

    torch.manual_seed(0)
    encoder = ClipEncoder(args.model, "", device="cpu", batch_size=args.batch_size)
    rows = romance_rows(args.books)
    print(
        f"{len(rows)} real covers, {args.model} (random weights), batch {args.batch_size}, torch threads "
        f"{torch.get_num_threads()}"
    )
    ratios = []
    for repeat in range(1, args.repeats + 1):  # alternated, so a change in machine load hits both alike
        image_seconds, text_seconds = pure_forward_seconds(encoder, rows)
        seconds = job_seconds(encoder, rows, args.workers)
        pure = len(rows) / (image_seconds + text_seconds)
        ratios.append(len(rows) / seconds / pure)
        print(f"repeat {repeat}:")
        print(f"  pure image tower:          {len(rows) / image_seconds:7.1f} covers/s")
        print(f"  pure image + text towers:  {pure:7.1f} books/s")
        print(f"  whole ingest job:          {len(rows) / seconds:7.1f} books/s")
        print(f"  job / pure forward:        {ratios[-1]:7.2f}")
    print(
        f"job / pure forward, median of {len(ratios)}: {statistics.median(ratios):.2f} (each: "
        + ", ".join(f"{ratio:.2f}" for ratio in ratios)
        + ")"
    )


if __name__ == "__main__":
    main()
