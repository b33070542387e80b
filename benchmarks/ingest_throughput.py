"""Ingest throughput: the whole job against the pure model forwards, or this code against an older checkout.

    python benchmarks/ingest_throughput.py --books 320 --batch-size 32 --repeats 3
    python benchmarks/ingest_throughput.py --against /work/wt/before --books 300 --repeats 3

**Against another checkout** (``--against DIR``, e.g. ``git worktree add /work/wt/before 0fcd10b``):
the same ``python -m ingest`` command line (offline profile: its real MiniLM weights and perceptual
cover fingerprints) on the same real romance books, run by this code and by the code in DIR, each
in a fresh process and a fresh store, alternated ``--repeats`` times so that the machine's load
hits both alike. The whole command is timed, from process start (imports, model loading) to exit.
Since the full-text index, a search process also derives that index from the store before it
answers with the new books (``StoreFullText.sync``): after each run of this code the benchmark
syncs a fresh index from the new store, timed, and prints the throughput with and without it.

**Against the pure forwards** (the default):

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
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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

ROOT = Path(__file__).resolve().parents[1]
ROMANCE = ROOT.parent / "shared" / "data" / "romance-covers"
TRUNCATED_COVERS = {"9781420132830", "9781601835475", "9781648980091", "9781728217192"}  # ingest rejects them


def romance_rows(count: int) -> list[dict[str, str]]:
    """The first ``count`` listings with a cover file that decodes (4 of the files are truncated)."""
    with (ROMANCE / "listings.csv").open(newline="") as stream:
        rows = [row for row in csv.DictReader(stream) if (ROMANCE / "images" / f"img_{row['ISBN']}.jpg").is_file()]
    return [row for row in rows if row["ISBN"] not in TRUNCATED_COVERS][:count]


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


@dataclass(frozen=True)
class Arm:
    """One way of running the ingest: a checkout and extra flags for its command."""

    label: str
    tree: Path
    flags: tuple[str, ...] = ()

    @property
    def is_this(self) -> bool:
        return self.tree == ROOT


@dataclass
class IngestRun:
    code: str  # the arm's label
    seconds: float  # the whole command, process start to exit
    job_seconds: float  # from "models and store open" to the summary: the job itself
    stages: str  # the job's own "time by stage" line
    sync_seconds: float | None = None  # the full-text index's first sync (this code only)


def write_catalog(rows: list[dict[str, str]], folder: Path) -> Path:
    catalog = folder / "catalog.csv"
    with catalog.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return catalog


def ingest_command(catalog: Path, data_dir: Path, workers: int, flags: tuple[str, ...]) -> list[str]:
    """The command line both checkouts understand (the same flags exist at 0fcd10b), plus an arm's own."""
    return [
        sys.executable, "-m", "ingest", str(catalog), "--profile", "offline", "--data-dir", str(data_dir),
        "--images-dir", str(ROMANCE), "--map", "cover=images/img_{ISBN}.jpg", "--map", "id=ISBN",
        "--allow-outside", "--workers", str(workers), "--no-progress", *flags,
    ]  # fmt: skip


def run_ingest(arm: Arm, catalog: Path, workers: int, books: int) -> IngestRun:
    """``python -m ingest`` with ``tree``'s code, in a fresh store; then (this code) the full-text sync.

    The job's time runs from the line the command prints once its models and store are open
    (``profile …; store …``, printed by both checkouts just before the job starts) to the line
    of its summary (``ingested …``); output is unbuffered, so each line is timed as it is written.
    """
    with tempfile.TemporaryDirectory(prefix="folio-ingest-") as folder:
        data_dir = Path(folder) / "store"
        environment = os.environ | {"PYTHONPATH": str(arm.tree), "PYTHONUNBUFFERED": "1"}
        start = time.perf_counter()
        process = subprocess.Popen(
            ingest_command(catalog, data_dir, workers, arm.flags),
            cwd=folder,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with ThreadPoolExecutor(2) as pool:
            stdout, stderr = pool.map(timed_lines, (process.stdout, process.stderr))
        process.wait()
        end = time.perf_counter()
        opened = next((at for at, line in stderr if line.startswith("profile ")), None)
        summary = next(((at, line) for at, line in stdout if line.startswith("ingested ")), None)
        ingested = re.match(r"ingested (\d+) new", summary[1]) if summary else None
        if process.returncode != 0 or opened is None or not ingested or int(ingested.group(1)) != books:
            output = "".join(line for _, line in stdout + stderr)
            raise SystemExit(f"{arm.label}: ingest failed ({process.returncode}):\n{output[-3000:]}")
        stages = next((line.split(": ", 1)[1].strip() for _, line in stdout if "time by stage" in line), "?")
        run = IngestRun(arm.label, end - start, summary[0] - opened, stages)
        if arm.is_this:
            run.sync_seconds = fulltext_sync_seconds(data_dir, books)
        return run


def timed_lines(stream) -> list[tuple[float, str]]:
    """Every line of a stream, with the moment it arrived."""
    return [(time.perf_counter(), line) for line in stream]


def fulltext_sync_seconds(data_dir: Path, books: int) -> float:
    """What a search process pays before it answers with the new books: the full-text index's first sync."""
    from multimodal.fulltext import StoreFullText
    from multimodal.settings import Settings
    from multimodal.store import BookStore, make_client

    settings = Settings(profile="offline", data_dir=data_dir)
    client = make_client(settings)
    identity = client.get_collection(f"{settings.collection}_texts").metadata["folio_identity"]
    store = BookStore(settings, "offline", identity, client=client)
    report = StoreFullText.for_store(store, settings).sync()
    store.close()
    if report.added != books:
        raise SystemExit(f"full-text sync indexed {report.added} books, expected {books}")
    return report.seconds


def checkout_imports_itself(tree: Path) -> None:
    """Each subprocess must import the code of its own tree, not the venv's editable install."""
    probe = "import ingest, multimodal; print(multimodal.__file__)"
    environment = os.environ | {"PYTHONPATH": str(tree)}
    found = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True).stdout
    if not found.startswith(str(tree)):
        raise SystemExit(f"PYTHONPATH={tree} imports {found.strip()!r}, not that checkout's code")


def compare_checkouts(before: Path, books: int, repeats: int, workers: int, variants: list[str]) -> None:
    """Each arm ``repeats`` times, in rotating order; then the medians and the ratios to "before"."""
    rows = romance_rows(books)
    arms = [Arm("before", before.resolve())]
    for variant in variants:  # "plain", or flag names without their dashes: "no-passages", "ocr,no-passages"
        flags = () if variant == "plain" else tuple(f"--{name}" for name in variant.split(",") if name)
        arms.append(Arm(" ".join(("this", *flags)), ROOT, flags))
    for tree in {arm.tree for arm in arms}:
        checkout_imports_itself(tree)
    print(f"{len(rows)} real romance books, offline profile; this code {git_commit(ROOT)}, before {git_commit(before)}")
    runs: list[IngestRun] = []
    with tempfile.TemporaryDirectory(prefix="folio-ingest-catalog-") as folder:
        catalog = write_catalog(rows, Path(folder))
        for repeat in range(repeats):
            for arm in arms[repeat % len(arms) :] + arms[: repeat % len(arms)]:  # rotate who goes first
                run = run_ingest(arm, catalog, workers, len(rows))
                runs.append(run)
                sync = "" if run.sync_seconds is None else f"; full-text sync {run.sync_seconds:.2f} s"
                print(
                    f"repeat {repeat + 1} {arm.label:20}: job {run.job_seconds:6.1f} s = "
                    f"{len(rows) / run.job_seconds:5.2f} books/s (whole command {run.seconds:5.1f} s){sync}; "
                    f"load {os.getloadavg()[0]:.1f}; job stages: {run.stages}",
                    flush=True,
                )
    print(f"median of {repeats} runs each, books/s (ratio to before):")
    for what, seconds in (
        ("job", lambda run: run.job_seconds),
        ("job + full-text sync", lambda run: run.job_seconds + (run.sync_seconds or 0)),
        ("whole command", lambda run: run.seconds),
        ("whole command + sync", lambda run: run.seconds + (run.sync_seconds or 0)),
    ):
        medians = {arm.label: statistics.median(seconds(run) for run in runs if run.code == arm.label) for arm in arms}
        cells = "   ".join(
            f"{label} {len(rows) / median:6.2f} ({medians['before'] / median:.3f})" for label, median in medians.items()
        )
        print(f"  {what:22} {cells}")
    for arm in arms[1:]:  # each repeat's two runs were back to back: their ratio sees the same load
        ratios = [
            before.job_seconds / this.job_seconds
            for before, this in zip(runs_of(runs, "before"), runs_of(runs, arm.label), strict=True)
        ]
        print(
            f"  job, {arm.label} / before by repeat: " + ", ".join(f"{ratio:.2f}" for ratio in ratios)
            + f" (median {statistics.median(ratios):.3f})"
        )  # fmt: skip


def runs_of(runs: list[IngestRun], label: str) -> list[IngestRun]:
    return [run for run in runs if run.code == label]


def git_commit(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternated")
    parser.add_argument("--against", type=Path, help="a checkout of older code: compare its ingest with this one's")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["plain"],
        help="with --against: this code's runs: plain, or extra flags without dashes (no-passages)",
    )
    args = parser.parse_args()
    if not ROMANCE.is_dir():
        raise SystemExit(f"real covers not found at {ROMANCE}")
    if args.against:
        return compare_checkouts(args.against, args.books, args.repeats, args.workers, args.variants)

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
