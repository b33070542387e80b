"""Start-up time and memory of ``python app.py``, then its REST API under 1, 4 and 8 concurrent clients.

    python benchmarks/app_load.py --profile clip --size 10000 --clients 1 4 8 --requests 48 --seconds 40

The app runs twice, with concurrent queries sharing model forwards (``FOLIO_SHARE_FORWARDS=1``, the
default) and without (``--share-forwards on off``), so the two are measured in one run.

The app is started as a user would (``python app.py --port PORT``), with its settings in FOLIO_*
variables (the benchmark catalog of bench_common, shortlist 50, 32 cross-scored, clip query OCR
off). Start-up is the time from launching the process to the first answer of
``GET /api/search`` (models loaded, store opened, first query including its title-index load).
Resident memory (VmRSS, and the peak VmHWM) is read from /proc after a warm-up.

Load: each client is a thread with its own ``httpx.Client`` on loopback, sending requests back to
back (text: ``GET /api/search?q=``; image: ``POST /api/search`` with a real cover) until
``--requests`` answers or ``--seconds`` have passed. Reported: answers per second and latency
median / p95 as the clients saw it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from bench_common import (
    BENCH_DIR,
    ROOT,
    catalog_store,
    cover_path,
    machine_line,
    median,
    p95,
    romance_rows,
    settings_env,
    text_queries,
)

from multimodal.chroma_server import free_port
from multimodal.profiles import list_profiles


def proc_memory_mb(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(line.split()[1]) / 1024
    return values


def start_app(
    settings, port: int, timeout: float, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, float, float]:
    """Launch app.py; return the process, seconds to the first /api/health and to the first search answer."""
    env = {**os.environ, **settings_env(settings), "FOLIO_PORT": str(port), **(env or {})}
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    healthy = None
    with httpx.Client(base_url=base, timeout=120) as client:
        while time.perf_counter() - start < timeout:
            if process.poll() is not None:
                raise SystemExit(f"app.py exited with {process.returncode}: {process.stderr.read()[-2000:]}")
            try:
                if healthy is None:
                    client.get("/api/health").raise_for_status()
                    healthy = time.perf_counter() - start
                client.get("/api/search", params={"q": "a duke in disguise"}).raise_for_status()
                return process, healthy, time.perf_counter() - start
            except httpx.TransportError:
                time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"app.py gave no answer within {timeout:.0f}s")


def run_load(base: str, clients: int, requests: int, seconds: float, send) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            while time.perf_counter() < deadline:
                with lock:
                    i = next(counter)
                    if i >= requests:
                        return
                start = time.perf_counter()
                send(client, i).raise_for_status()
                with lock:
                    latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(worker) for _ in range(clients)]:
            future.result()
    wall = time.perf_counter() - start
    return {"answers": len(latencies), "qps": len(latencies) / wall, "median": median(latencies), "p95": p95(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="clip", choices=list_profiles())
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--requests", type=int, default=48, help="answers per load step (at most)")
    parser.add_argument("--seconds", type=float, default=40, help="time per load step (at most)")
    parser.add_argument("--kinds", nargs="+", default=["text", "image"], choices=["text", "image"])
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    parser.add_argument(
        "--share-forwards", nargs="+", default=["on", "off"], choices=["on", "off"], help="app runs to compare"
    )
    args = parser.parse_args()

    settings = catalog_store(args.profile, args.size, args.bench_dir)
    rows = romance_rows(min(args.size, 1435))
    texts = text_queries(rows, 200)
    covers = [cover_path(row).read_bytes() for row in rows[:200]]
    senders = {
        "text": lambda client, i: client.get("/api/search", params={"q": texts[i % len(texts)]}),
        "image": lambda client, i: client.post("/api/search", files={"image": ("cover.jpg", covers[i % len(covers)])}),
    }
    print(machine_line())
    for share in args.share_forwards:
        label = "concurrent queries share model forwards" if share == "on" else "each query runs its own forwards"
        print(f"\nFOLIO_SHARE_FORWARDS={share} ({label})")
        measure_app(settings, args, senders, {"FOLIO_SHARE_FORWARDS": "1" if share == "on" else "0"})
    print(machine_line())


def measure_app(settings, args: argparse.Namespace, senders: dict, env: dict[str, str]) -> None:
    port = free_port()
    process, healthy, first = start_app(settings, port, timeout=600, env=env)
    try:
        print(f"{args.profile} profile, {args.size:,} books: app.py answers /api/health after {healthy:.1f}s, ")
        print(f"  first search answer after {first:.1f}s")
        base = f"http://127.0.0.1:{port}"
        for kind in args.kinds:  # warm-up
            run_load(base, 1, 5, 60, senders[kind])
        memory = proc_memory_mb(process.pid)
        print(f"  resident memory after warm-up: {memory['VmRSS']:.0f} MB (peak {memory['VmHWM']:.0f} MB)")
        print(f"  {'query':6} {'clients':>7} {'answers':>8} {'answers/s':>10} {'median ms':>10} {'p95 ms':>8}")
        for kind in args.kinds:
            for clients in args.clients:
                row = run_load(base, clients, args.requests, args.seconds, senders[kind])
                print(
                    f"  {kind:6} {clients:7d} {row['answers']:8d} {row['qps']:10.2f} "
                    f"{row['median']:10.1f} {row['p95']:8.1f}",
                    flush=True,
                )
        memory = proc_memory_mb(process.pid)
        print(f"  resident memory after the load: {memory['VmRSS']:.0f} MB (peak {memory['VmHWM']:.0f} MB)")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
