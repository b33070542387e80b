"""Recall of Chroma's HNSW shortlist against exact (brute-force, numpy) search over the same vectors.

    python benchmarks/vector_recall.py --profiles clip offline --sizes 1000 10000 100000 \
        --ef-search 100 200 400 800 1600
    python benchmarks/vector_recall.py --profiles offline --sizes 100000 --grid 16:200 32:200 48:400

Part 1 runs on the benchmark catalogs (see bench_common; built once) as BookStore made them: for
each channel (book texts, covers) all stored vectors are read back, and the 50 nearest by Chroma
(``collection.query``, as ``BookStore.nearest`` does) are compared with the exact 50 nearest by
cosine. ``ef_search`` is swept with ``collection.modify`` (it can change on a live collection) and
set back afterwards. Two query sets:

- real: the profile's own models on real queries (titles, authors, blurb phrases → text channel;
  real covers → cover channel), as ``Folio.search`` sends them;
- probe: random unit vectors (queries with no structure at all, a worst case).

Part 2 (``--grid M:EF_CONSTRUCTION ...``) copies one catalog's vectors into fresh collections built
with other ``max_neighbors`` and ``ef_construction`` (fixed at creation) and sweeps ``ef_search``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import (
    BENCH_DIR,
    SHORTLIST,
    catalog_store,
    cover_path,
    machine_line,
    median,
    romance_rows,
    text_queries,
    unit_vectors,
)

from multimodal import open_ingest
from multimodal.images import load_image
from multimodal.profiles import list_profiles
from multimodal.store import BookStore


def all_vectors(collection, page: int = 5000) -> tuple[list[str], np.ndarray]:
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    while True:
        got = collection.get(include=["embeddings"], limit=page, offset=len(ids))
        ids += got["ids"]
        if got["ids"]:
            vectors.append(np.asarray(got["embeddings"], np.float32).reshape(len(got["ids"]), -1))
        if len(got["ids"]) < page:
            return ids, np.concatenate(vectors)


def real_queries(settings, size: int, count: int) -> dict[str, np.ndarray]:
    models = open_ingest(settings).models
    rows = romance_rows(min(size, 1435))
    images = [load_image(cover_path(row)) for row in rows[:: max(1, len(rows) // count)][:count]]
    return {
        "texts": models.text_encoder.encode_texts(text_queries(rows, count)),
        "covers": models.image_encoder.encode_images(images),
    }


def recall(collection, ids: list[str], vectors: np.ndarray, queries: np.ndarray) -> tuple[list[float], list[float]]:
    """Recall@50 of each query, and each query's latency in ms."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    exact = np.argsort(-(queries @ unit.T), axis=1)[:, :SHORTLIST]
    recalls, times = [], []
    for query, truth in zip(queries, exact, strict=True):
        start = time.perf_counter()
        got = collection.query(query_embeddings=[query], n_results=SHORTLIST, include=[])
        times.append((time.perf_counter() - start) * 1000)
        recalls.append(len(set(got["ids"][0]) & {ids[i] for i in truth}) / SHORTLIST)
    return recalls, times


def reopen(path: Path, name: str):
    """The collection as a new process would see it: Chroma keeps a loaded index (and its ef_search) per
    process, so a changed ef_search only takes effect once the client cache is dropped."""
    import chromadb
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return chromadb.PersistentClient(path=str(path)).get_collection(name, embedding_function=None)


def sweep(path: Path, name: str, ids, vectors, query_sets: dict[str, np.ndarray], ef_values, label: str) -> list[dict]:
    collection = reopen(path, name)
    original = (collection.configuration or {}).get("hnsw", {}).get("ef_search")
    rows = []
    for ef in ef_values:
        collection.modify(configuration={"hnsw": {"ef_search": ef}})
        collection = reopen(path, name)
        row = {"label": label, "ef_search": ef}
        cells = []
        for set_name, queries in query_sets.items():
            recalls, times = recall(collection, ids, vectors, queries)
            row[set_name] = {"mean": float(np.mean(recalls)), "min": float(np.min(recalls)), "ms": median(times)}
            cells.append(f"{set_name} {np.mean(recalls):.4f} (min {np.min(recalls):.2f}, {median(times):5.1f} ms)")
        print(f"  {label:34} ef_search {ef:5d}: " + "  ".join(cells), flush=True)
        rows.append(row)
    if original:
        collection.modify(configuration={"hnsw": {"ef_search": original}})
        reopen(path, name)
    return rows


def build_copy(client, name: str, ids: list[str], vectors: np.ndarray, m: int, ef_construction: int):
    collection = client.create_collection(
        name,
        configuration={
            "hnsw": {"space": "cosine", "ef_construction": ef_construction, "ef_search": 100, "max_neighbors": m}
        },
        embedding_function=None,
    )
    batch = client.get_max_batch_size()
    for start in range(0, len(ids), batch):
        collection.add(ids=ids[start : start + batch], embeddings=vectors[start : start + batch])
    return collection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["clip", "offline"], choices=list_profiles())
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 10_000, 100_000])
    parser.add_argument("--channels", nargs="+", default=["texts", "covers"], choices=["texts", "covers"])
    parser.add_argument("--queries", type=int, default=50, help="queries of each set")
    parser.add_argument("--ef-search", nargs="+", type=int, default=[100, 200, 400, 800])
    parser.add_argument("--grid", nargs="*", default=[], help="M:EF_CONSTRUCTION pairs to build and sweep")
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    args = parser.parse_args()

    print(machine_line())
    for profile in args.profiles:
        for size in args.sizes:
            settings = catalog_store(profile, size, args.bench_dir)
            store = BookStore(settings, profile, load_identity(settings))
            queries = real_queries(settings, size, args.queries)
            for channel in args.channels:
                collection = store.texts if channel == "texts" else store.covers
                name = collection.name
                ids, vectors = all_vectors(collection)
                probes = unit_vectors(np.random.default_rng(7), args.queries, vectors.shape[1])
                query_sets = {"real": queries[channel], "probe": probes}
                hnsw = (collection.configuration or {}).get("hnsw", {})
                label = f"{profile}-{size} {channel} M={hnsw.get('max_neighbors')} efc={hnsw.get('ef_construction')}"
                sweep(settings.chroma_path, name, ids, vectors, query_sets, args.ef_search, label)
                for pair in args.grid:
                    m, ef_construction = (int(part) for part in pair.split(":"))
                    with tempfile.TemporaryDirectory(dir=args.bench_dir) as folder:
                        import chromadb

                        client = chromadb.PersistentClient(path=folder)
                        start = time.perf_counter()
                        build_copy(client, "recall-grid", ids, vectors, m, ef_construction)
                        built = time.perf_counter() - start
                        label = f"{profile}-{size} {channel} M={m} efc={ef_construction}"
                        print(f"  {label}: built in {built:.0f}s")
                        sweep(Path(folder), "recall-grid", ids, vectors, query_sets, args.ef_search, label)
    print(machine_line())


def load_identity(settings) -> str:
    import json

    seed = settings.data_dir.parent / f"{settings.profile}-seed" / "complete.json"
    return json.loads(seed.read_text())["identity"]


if __name__ == "__main__":
    main()
