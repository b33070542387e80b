"""What it costs a reader (the app) when another process writes into its embedded store.

    python benchmarks/store_reopen.py --sizes 1000 10000 --sync-thresholds 1000 128 --repeats 3

For each size a store of that many books (random unit vectors: 384-d texts, 512-d covers, as the
clip profile stores them) is built in a temporary data dir. A reader ``BookStore`` opens it and
searches both channels once to load its indexes. Then, per repeat, side by side:

- warm: a search of both channels (``BookStore.nearest`` on texts and covers) with nothing changed;
- after a write: another process writes one ingest chunk (128 books) and exits; the reader's next
  search of both channels, which first reopens its Chroma client (``store.lock``'s generation
  moved) and reloads both vector indexes from disk.

It prints the median of each: the second is what the first search after each ingest chunk pays.
Each size is measured with each ``--sync-thresholds`` value (how many records Chroma takes before it
writes the vector index to disk: 1,000 is Chroma's default, 128 Folio's), with the time writing the
books took. Everything is measured in one run, so the machine's load affects all rows alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import multimodal.store  # noqa: E402
from multimodal import BookRecord, Settings  # noqa: E402
from multimodal.store import BookStore  # noqa: E402

TEXT_DIM, COVER_DIM, CHUNK = 384, 512, 128
PROFILE, IDENTITY = "bench", "store-reopen-benchmark"


def unit_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write_books(data_dir: Path, start: int, count: int, seed: int) -> float:
    """Write books start..start+count into the store at data_dir, in chunks as ingest does; the seconds taken."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    store = BookStore(Settings(data_dir=data_dir), PROFILE, IDENTITY)
    for first in range(start, start + count, CHUNK):
        size = min(CHUNK, start + count - first)
        books = [BookRecord(f"b{i}", f"Book {i}", content_hash=str(i)) for i in range(first, first + size)]
        store.write(books, unit_vectors(rng, size, TEXT_DIM), list(unit_vectors(rng, size, COVER_DIM)))
    store.close()
    return time.perf_counter() - started


def search_both(store: BookStore, rng: np.random.Generator) -> float:
    started = time.perf_counter()
    store.nearest("texts", unit_vectors(rng, 1, TEXT_DIM)[0], 50)
    store.nearest("covers", unit_vectors(rng, 1, COVER_DIM)[0], 50)
    return (time.perf_counter() - started) * 1000


def measure(size: int, sync_threshold: int, repeats: int) -> tuple[float, float, float]:
    multimodal.store.HNSW_SYNC_THRESHOLD = sync_threshold
    with tempfile.TemporaryDirectory(prefix="store-reopen-") as folder:
        data_dir = Path(folder)
        build_seconds = write_books(data_dir, 0, size, seed=size)
        reader = BookStore(Settings(data_dir=data_dir), PROFILE, IDENTITY)
        rng = np.random.default_rng(0)
        search_both(reader, rng)  # load the indexes
        warm, after_write = [], []
        for repeat in range(repeats):
            warm.extend(search_both(reader, rng) for _ in range(5))
            first = size + repeat * CHUNK
            writer = [sys.executable, __file__, "--write", str(data_dir), str(first), str(CHUNK), str(repeat)]
            writer += ["--sync-thresholds", str(sync_threshold)]
            subprocess.run(writer, check=True)
            after_write.append(search_both(reader, rng))
        assert reader.count() == size + repeats * CHUNK
        reader.close()
        return build_seconds, statistics.median(warm), statistics.median(after_write)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--sync-thresholds", type=int, nargs="+", default=[1000, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", nargs=4, metavar=("DATA_DIR", "START", "COUNT", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:  # the other process
        data_dir, start, count, seed = args.write
        multimodal.store.HNSW_SYNC_THRESHOLD = args.sync_thresholds[0]
        write_books(Path(data_dir), int(start), int(count), int(seed))
        return
    print(f"load average before: {os.getloadavg()[0]:.1f} (1 min)")
    columns = ["books", "sync threshold", "writing them (s)", "warm search (ms)", "first search after a write (ms)"]
    print(" | ".join(columns))
    for size in args.sizes:
        for sync_threshold in args.sync_thresholds:
            build, warm, after = measure(size, sync_threshold, args.repeats)
            print(f"{size:>5} | {sync_threshold:>14} | {build:>16.1f} | {warm:>16.1f} | {after:>31.1f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f} (1 min)")


if __name__ == "__main__":
    main()
