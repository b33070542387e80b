"""Image-query latency on scene and frame-filling photos, by stage (offline profile, a real store).

    python benchmarks/photo_latency.py --data-dir /tmp/photo/store/romance --images-dir ../shared/data/romance-covers

Photos are simulated with the held-out seed (1) from covers in the store, searched one at a time after
a warm-up query, as the page and the API search them. Prints the median and p95 of the whole query
and of each stage (``SearchResult.timings_ms``: the photo's localisation, cover vectors and OCR inside
``encode``, then stage 1 and stage 2), and the load average beside them: timings measured while other
jobs run are pessimistic.

``--compare`` measures the query path as it was before the speed-up too, in the same run: with the OCR
padding every text line to rapidocr's 320 px (one thread per forward), and with that and torch and the
OCR on the libraries' default threads (as before). Each photo is searched once per path, one after the
other (each path first in turn), so all paths see the same load.

``--without-keypoints`` also measures the query path without the cover keypoints signal (its matching in
``cross_score``), and without it and the cover-features channel (stage 1's ``feature_search``; then the photo's
features in ``encode`` go too), side by side the same way. The catalog covers' features are read from the store's
cover-feature index (``multimodal.cover_features``), else from their files: the last line says how many were.

``--one-ocr-engine`` also measures the query path with one OCR engine, reading a photo's region and its best
outline one after the other instead of side by side (``CoverReader.read_all``), the same way.

``--onnxruntime-detector`` also measures the query path with the OCR's text detection on onnxruntime (as before
session 10) instead of OpenVINO, the same way.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from evaluation.photos import OTHER_COVERS
from evaluation.tasks import book_seed
from ingest.covers import CoverFetcher
from multimodal.devices import limit_threads
from multimodal.folio import Folio
from multimodal.images import load_image
from multimodal.keypoints import COVERS, THUMBNAILS
from multimodal.models import OCR_WORKERS
from multimodal.photo import phone_photo, scene_photo
from multimodal.scorers import CoverReader, DetectionEngine
from multimodal.settings import Settings


@dataclass(frozen=True)
class QueryPath:
    """How the models of an image query run: the threads of each forward (None: the libraries' defaults),
    and whether the OCR pads short text lines (``CoverReader.padded_lines``)."""

    name: str
    threads: int | None
    padded_lines: bool = False
    keypoints: bool = True  # the cover_keypoints pair signal (multimodal.keypoints) scored in stage 2
    ocr_workers: int = OCR_WORKERS  # OCR engines reading a photo's regions side by side (CoverReader.read_all)
    cover_features: bool = True  # the cover_features channel (multimodal.cover_features) searched in stage 1
    detector: DetectionEngine = "openvino"  # what runs the OCR's text detection (CoverReader)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def photos(folio: Folio, images_dir: Path, count: int, kind: str, seed: int = 1) -> list[bytes]:
    records = sorted((record for record in folio.records() if record.has_cover), key=lambda record: record.book_id)
    fetcher = CoverFetcher([images_dir], Path("/tmp/folio-photo-latency-cache"), allow_outside=True)
    rng = random.Random(seed)
    made = []
    for record in rng.sample(records, count):
        cover = load_image(fetcher.fetch(record.cover))
        if kind == "frame-filling":
            made.append(phone_photo(cover, book_seed(seed, record.book_id)))
            continue
        others = [load_image(fetcher.fetch(other.cover)) for other in rng.sample(records, OTHER_COVERS)]
        made.append(scene_photo(cover, book_seed(seed, record.book_id), others).jpeg)
    return made


class PathSwitch:
    """Puts the folio's models on one query path at a time (torch's threads, the OCR session's threads)."""

    def __init__(self, folio: Folio, paths: list[QueryPath], default_threads: int) -> None:
        self.folio = folio
        self.default_threads = default_threads
        self.profile = folio.searcher.profile
        stage2 = {name: weight for name, weight in self.profile.stage2_weights.items() if name != "cover_keypoints"}
        stage1 = {name: weight for name, weight in self.profile.stage1_weights.items() if name != "cover_features"}
        self.without_keypoints = self.profile.model_copy(update={"stage2_weights": stage2})
        self.without_features = self.without_keypoints.model_copy(update={"stage1_weights": stage1})
        self.readers = {
            path.name: CoverReader(
                threads=path.threads, padded_lines=path.padded_lines, workers=path.ocr_workers, detector=path.detector
            )
            for path in paths
        }

    def use(self, path: QueryPath) -> None:
        limit_threads(path.threads or self.default_threads)
        self.folio.models.cover_reader = self.readers[path.name]
        if not path.cover_features:
            self.folio.searcher.profile = self.without_features
        else:
            self.folio.searcher.profile = self.profile if path.keypoints else self.without_keypoints


def report(kind: str, path: QueryPath, totals: list[float], stages: dict[str, list[float]]) -> None:
    print(f"\n{kind} photos, {path.name}: {len(totals)}; whole query median {percentile(totals, 0.5):.0f} ms, "
          f"p95 {percentile(totals, 0.95):.0f} ms")  # fmt: skip
    for stage, values in stages.items():
        some = f"   (in {len(values)} of the {len(totals)} queries)" if len(values) < len(totals) else ""
        print(f"  {stage:<24} median {percentile(values, 0.5):7.1f} ms   p95 {percentile(values, 0.95):7.1f} ms{some}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="an ingested store (offline profile)")
    parser.add_argument("--images-dir", type=Path, required=True, help="where the store's cover paths are resolved")
    parser.add_argument("--photos", type=int, default=60, help="photos of each kind")
    parser.add_argument("--compare", action="store_true", help="also measure the query path before the speed-up")
    parser.add_argument(
        "--without-keypoints", action="store_true", help="also measure the query path without the cover keypoints"
    )
    parser.add_argument(
        "--one-ocr-engine", action="store_true", help="also measure the query path reading its regions one by one"
    )
    parser.add_argument(
        "--onnxruntime-detector",
        action="store_true",
        help="also measure the query path with the OCR's text detection on onnxruntime, not OpenVINO",
    )
    args = parser.parse_args()
    import torch

    default_threads = torch.get_num_threads()  # before the search models set theirs
    settings = Settings(profile="offline", data_dir=args.data_dir)
    folio = Folio.open(settings)
    paths = [QueryPath("now", settings.query_threads)]
    if args.compare:
        paths.append(QueryPath("padded OCR lines", settings.query_threads, padded_lines=True))
        before = f"before: padded lines, default threads (torch {default_threads}, onnxruntime one per core)"
        paths.append(QueryPath(before, None, padded_lines=True))
    if args.without_keypoints:
        paths.append(QueryPath("without cover keypoints", settings.query_threads, keypoints=False))
        paths.append(
            QueryPath("without keypoints or features", settings.query_threads, keypoints=False, cover_features=False)
        )
    if args.one_ocr_engine:
        paths.append(QueryPath("one OCR engine", settings.query_threads, ocr_workers=1))
    if args.onnxruntime_detector:
        paths.append(QueryPath("text detection on onnxruntime", settings.query_threads, detector="onnxruntime"))
    switch = PathSwitch(folio, paths, default_threads)
    print(f"load average before: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    for kind in ("scene", "frame-filling"):
        queries = photos(folio, args.images_dir, args.photos, kind)
        totals: dict[str, list[float]] = defaultdict(list)
        stages: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for path in paths:
            switch.use(path)
            folio.search(image=queries[0])  # warm-up: lazy loading is not a query's latency
        for number, jpeg in enumerate(queries):
            for path in paths[number % len(paths) :] + paths[: number % len(paths)]:  # each path first in turn
                switch.use(path)
                started = time.perf_counter()
                result = folio.search(image=jpeg)
                totals[path.name].append((time.perf_counter() - started) * 1000)
                for stage, ms in result.timings_ms.items():
                    stages[path.name][stage].append(ms)
        for path in paths:
            report(kind, path, totals[path.name], stages[path.name])
    print(f"\nload average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    indexed = len(folio.searcher.cover_features.index)
    print(f"catalog covers' features: {indexed} in the store's index; {len(COVERS.cache)} read from their files")
    print(f"catalog covers' thumbnails (the picture check) read from their files: {len(THUMBNAILS.cache)}")


if __name__ == "__main__":
    main()
