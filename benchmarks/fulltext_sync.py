"""What keeping the full-text index in step with the store costs, at the benchmark catalogs' sizes.

    python benchmarks/fulltext_sync.py --sizes 1000 100000

For each catalog (``bench_common.catalog_store``: the real romance books, then synthetic ones; the
offline profile's store), in a fresh index folder:

- first sync: an empty index filled from the store (a new process on a new machine, or a new
  index version) — reading every record from Chroma, then indexing;
- steady sync: nothing changed (what a process pays when the store's change marker moved but
  its own books did not);
- 100 changed: 100 indexed books are given an old content hash first (as if the store had new
  versions of them), so the sync replaces exactly those.

The read of the store's records is timed apart from the index's own work.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_common import BENCH_DIR, catalog_store, machine_line

from multimodal.fulltext import FullTextDocument, StoreFullText
from multimodal.service import open_ingest


def seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(size: int, bench_dir: Path, synthetic_covers: bool) -> None:
    settings = catalog_store("offline", size, bench_dir, synthetic_covers)
    store = open_ingest(settings).store
    read_s = seconds(lambda: sum(1 for _ in store.iter_records()))
    with tempfile.TemporaryDirectory(prefix="folio-fulltext-sync-") as folder:
        fulltext = StoreFullText(store.iter_records, store.count, Path(folder) / "index")
        first = fulltext.sync()
        steady = fulltext.sync()
        indexed = list(fulltext.index.hashes())
        every = max(1, len(indexed) // 100)
        stale = [FullTextDocument(book_id, "stale", "stale") for book_id in indexed[::every][:100]]
        fulltext.index.apply(stale)
        changed = fulltext.sync()
    print(
        f"{store.count():>8,} books: reading the store's records {read_s:6.1f} s; "
        f"first sync {first.seconds:6.1f} s ({first.added:,} added); steady {steady.seconds:6.1f} s; "
        f"100 changed {changed.seconds:6.1f} s ({changed.replaced} replaced)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 100_000])
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    parser.add_argument("--text-only", action="store_true", help="the catalogs without synthetic covers (bench_common)")
    args = parser.parse_args()
    print(machine_line())
    for size in args.sizes:
        measure(size, args.bench_dir, not args.text_only)
    print(machine_line())


if __name__ == "__main__":
    main()
