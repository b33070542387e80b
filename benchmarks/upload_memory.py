"""Resident memory under concurrent large search uploads: before and after the query limits, side by side.

    python benchmarks/upload_memory.py --concurrency 8 --rounds 3

Each upload is decoded as the search path does (``load_image(data)``, purpose "query") and then
reduced to the model's 224-pixel input. The uploads are small files that decode to large
bitmaps: a 7,000 × 7,000 PNG of one colour (61 KB), a 48-megapixel JPEG (8,000 × 6,000, as some
phones take) and a 16-megapixel PNG. "Unbounded" decodes the same uploads the way Folio did before
(full-size decode up to 50 megapixels, any number at once, the bitmap kept at full size until
the request ends); "query-limits" is ``load_image`` today (16-megapixel cap, JPEG draft decoding,
two decode slots on two CPUs, shrunk to 3,000 pixels inside the slot, freed heap handed back).
Each mode runs in a fresh process, so one mode's heap does not colour the other's; the figures are
that process's resident size before, at its peak, and after the uploads.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench_common import load_average, rss_mb

MODES = ("unbounded", "query-limits")


def uploads() -> list[tuple[str, bytes]]:
    import numpy as np
    from PIL import Image

    def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **params)
        return buffer.getvalue()

    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)).resize((8000, 6000))
    return [
        ("png-7000x7000", encoded(Image.new("L", (7000, 7000), 128), "PNG")),
        ("jpeg-8000x6000", encoded(noise, "JPEG", quality=70)),
        ("png-4000x4000", encoded(Image.new("RGB", (4000, 4000), (20, 90, 160)), "PNG")),
    ]


def decode_unbounded(data: bytes):
    """Folio's decoding before the query limits: full size, no draft, no bound on concurrent decodes."""
    from PIL import Image

    from multimodal.images import to_rgb

    image = Image.open(io.BytesIO(data))
    if image.size[0] * image.size[1] > 50_000_000:
        raise ValueError("too large")
    image.load()
    return to_rgb(image)


def handle(mode: str, data: bytes) -> str:
    """One search request's image work: decode, then the model's 224-pixel input."""
    from multimodal.errors import BadImage
    from multimodal.images import load_image

    try:
        image = decode_unbounded(data) if mode == "unbounded" else load_image(data)
    except (BadImage, ValueError):
        return "refused"
    image.resize((224, 224))
    time.sleep(0.2)  # the rest of the request (encoding, search) holds the decoded image meanwhile
    return f"{image.size[0]}x{image.size[1]}"


def child(mode: str, concurrency: int, rounds: int) -> dict[str, object]:
    files = uploads()
    import multimodal.images  # noqa: F401  (imported before measuring the baseline)

    before = rss_mb()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    outcomes: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        jobs = [files[i % len(files)] for i in range(concurrency * rounds)]
        for (name, _), outcome in zip(jobs, pool.map(lambda job: handle(mode, job[1]), jobs), strict=True):
            outcomes[name] = outcome
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    time.sleep(0.5)
    return {
        "mode": mode,
        "before": before,
        "peak": peak,
        "after": rss_mb(),
        "seconds": seconds,
        "outcomes": outcomes,
        "sizes": {name: len(data) for name, data in files},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.concurrency, args.rounds)))
        return
    one, five, _ = load_average()
    print(f"load average {one:.2f} {five:.2f}; {args.concurrency} concurrent uploads × {args.rounds} rounds")
    results = []
    for mode in MODES:
        command = [sys.executable, __file__, "--child", mode, "--concurrency", str(args.concurrency)]
        out = subprocess.run([*command, "--rounds", str(args.rounds)], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    sizes = ", ".join(f"{name} {size / 1024:.0f} KB" for name, size in results[0]["sizes"].items())
    print(f"uploads: {sizes}")
    print(f"{'mode':<14} {'RSS before':>11} {'peak':>9} {'after':>9} {'seconds':>8}  outcome per upload")
    for result in results:
        outcome = ", ".join(f"{name} → {what}" for name, what in result["outcomes"].items())
        print(
            f"{result['mode']:<14} {result['before']:>8.0f} MB {result['peak']:>6.0f} MB {result['after']:>6.0f} MB "
            f"{result['seconds']:>8.1f}  {outcome}"
        )
    unbounded, limited = results
    growth = (limited["peak"] - limited["before"]) / max(1.0, unbounded["peak"] - unbounded["before"])
    print(f"peak growth with the query limits / without: {growth:.2f}")


if __name__ == "__main__":
    main()
