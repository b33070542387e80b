"""Peak memory of the ingest job for 1,000 and 10,000 books: flat, because the job streams.

    python benchmarks/ingest_memory.py --sizes 1000 10000

The real romance covers are repeated under new ids to reach the size. Each size runs in a fresh
process (the offline profile: MiniLM text vectors and perceptual cover vectors) and reports that
process's peak resident set size.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROMANCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "romance-covers"


def write_catalog(path: Path, size: int) -> None:
    with (ROMANCE / "listings.csv").open(newline="") as stream:
        rows = [row for row in csv.DictReader(stream) if (ROMANCE / "images" / f"img_{row['ISBN']}.jpg").is_file()]
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, ["id", "title", "author", "description", "cover"])
        writer.writeheader()
        for i in range(size):
            row = rows[i % len(rows)]
            writer.writerow(
                {
                    "id": f"{row['ISBN']}-{i // len(rows)}",
                    "title": row["title"],
                    "author": row["author"],
                    "description": row["description"],
                    "cover": str(ROMANCE / "images" / f"img_{row['ISBN']}.jpg"),
                }
            )


def peak_rss_mb(size: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        catalog = Path(folder) / "catalog.csv"
        write_catalog(catalog, size)
        command = [sys.executable, "-m", "ingest", str(catalog), "--profile", "offline", "--allow-outside"]
        command += ["--data-dir", str(Path(folder) / "store"), "--no-progress"]
        child = (
            "import resource, subprocess, sys; job = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True);"
            "assert job.returncode in (0, 3), job.returncode;"  # 3: some covers rejected (truncated files)
            "print(job.stdout.splitlines()[0]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", child, *command], capture_output=True, text=True, check=True)
        summary, peak_kb = out.stdout.strip().splitlines()[-2:]
        print(f"        {size} books: {summary}")
        return int(peak_kb) / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    print(f"{'books':>7} {'peak RSS MB':>12} {'seconds':>8}")
    for size in args.sizes:
        peak, seconds = peak_rss_mb(size)
        print(f"{size:7d} {peak:12.0f} {seconds:8.1f}")


if __name__ == "__main__":
    main()
